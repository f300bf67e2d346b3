"""What an actor may do in a tenant: the one place roles are worked out, for every service.

A person acts with their membership's role. Through an API key they act with the lower of the key's
role and their own role now: a key never outlives its creator's rights (a removed member's keys stop
working, a demoted member's keys drop to the new role). The platform itself (the CLI's operator,
scheduled jobs) may do anything.
"""

from kernel.errors import NotPermitted
from tenants.audit import Actor
from tenants.models import MANAGER_ROLES, Membership, Role, Tenant

# Higher may do more. Billing only reads (and sees costs).
ROLE_RANK = {Role.BILLING: 1, Role.MEMBER: 2, Role.ADMIN: 3, Role.OWNER: 4}

__all__ = ["MANAGER_ROLES", "SITE_WRITERS", "lower_role", "require_role", "require_staff", "role_of"]

# Roles that may create, change and delete sites.
SITE_WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})


def _membership_role(user_id: int, tenant: Tenant) -> str | None:
    return Membership.objects.filter(user_id=user_id, tenant=tenant).values_list("role", flat=True).first()


def lower_role(*roles: str) -> str:
    return min(roles, key=lambda role: ROLE_RANK[Role(role)])


def role_of(actor: Actor, tenant: Tenant) -> str | None:
    """The role `actor` acts with in `tenant`, or None when it has none there."""
    if actor.is_system:
        return Role.OWNER
    if actor.user is None:
        return None
    if actor.api_key is not None:
        if actor.api_key.tenant_id != tenant.pk:
            return None
        # Looked up with the key when it was (tenants.middleware.lookup_api_key), else now.
        creator_role = getattr(actor.api_key, "creator_role", None) or _membership_role(actor.user.pk, tenant)
        return lower_role(actor.api_key.role, creator_role) if creator_role else None
    return _membership_role(actor.user.pk, tenant)


def _key_roles(actor: Actor, tenant: Tenant) -> tuple[str, str | None] | None:
    """A key's own role and its creator's role now, when the actor is a key of `tenant`."""
    key = actor.api_key
    if key is None or actor.user is None or actor.is_system or key.tenant_id != tenant.pk:
        return None
    return key.role, getattr(key, "creator_role", None) or _membership_role(actor.user.pk, tenant)


def require_role(actor: Actor, tenant: Tenant, allowed: frozenset[str], message: str) -> str:
    """The actor's role in `tenant` when it is one of `allowed`; NotPermitted (403) otherwise.

    Through a key, the key's role and its creator's role must each be allowed: roles are not a
    ladder everywhere (billing sees costs, member does not), so the lower of two roles is not enough.
    """
    role = role_of(actor, tenant)
    if role is None or role not in allowed:
        raise NotPermitted(message)
    key_roles = _key_roles(actor, tenant)
    if key_roles is not None and not all(each in allowed for each in key_roles):
        raise NotPermitted(message)
    return role


def require_staff(actor: Actor, message: str = "Only platform staff can do this.") -> None:
    if not (actor.is_system or actor.is_staff):
        raise NotPermitted(message)

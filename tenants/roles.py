"""What an actor may do in a tenant: the one place roles are worked out, for every service.

A person acts with their membership's role. Through an API key they act with the lower of the key's
role and their own role now: a key never outlives its creator's rights (a removed member's keys stop
working, a demoted member's keys drop to the new role). The platform itself (the CLI's operator,
scheduled jobs) may do anything.

A read-scoped key may only look: every write service checks a `WriterRoles` set, and `require_role`
refuses a read key for those (the API refuses its writes earlier still, tenants.authentication).
"""

from kernel.errors import NotPermitted
from tenants.audit import Actor
from tenants.models import MANAGER_ROLES, Membership, Role, Tenant, WriterRoles

# Higher may do more. Billing only reads (and sees costs).
ROLE_RANK = {Role.BILLING: 1, Role.MEMBER: 2, Role.ADMIN: 3, Role.OWNER: 4}

__all__ = [
    "MANAGER_ROLES",
    "READ_ONLY_KEY_REFUSED",
    "SITE_WRITERS",
    "WriterRoles",
    "lower_role",
    "require_role",
    "require_staff",
    "role_of",
]

# Roles that may create, change and delete sites.
SITE_WRITERS = WriterRoles({Role.OWNER, Role.ADMIN, Role.MEMBER})

READ_ONLY_KEY_REFUSED = (
    "This API key is read-only: it can look but not change anything. Use a key with the write scope; "
    "an owner or admin can create one in the portal (API keys) or with POST /api/v1/api-keys/."
)


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

    A read-scoped key is refused for any `WriterRoles` set, whatever its role: those guard writes.
    """
    if isinstance(allowed, WriterRoles) and actor.read_only:
        raise NotPermitted(READ_ONLY_KEY_REFUSED)
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


def acts_as_owner(actor: Actor, tenant: Tenant) -> bool:
    """An owner, or a key an owner made with the highest role a key can hold (admin: a key never
    holds the owner role): what applying a tenant definition, which names the owners, asks for.
    The platform itself and staff too."""
    if actor.is_system or actor.is_staff:
        return True
    if actor.user is None:
        return False
    if actor.api_key is not None:
        # Only a key of this tenant: never a person's standing here through a key made elsewhere.
        key_roles = _key_roles(actor, tenant)
        return key_roles == (Role.ADMIN, Role.OWNER)
    return _membership_role(actor.user.pk, tenant) == Role.OWNER

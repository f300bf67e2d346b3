"""Every write to tenants, people and credentials. Atomic; each writes an audit row; side effects
(emails, tasks, live events) are sent only after the transaction commits."""

import logging
import re
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kernel.errors import Conflict, InvalidInput, NotPermitted
from tenants import key_cache, lifecycle, signals, tokens
from tenants.audit import Actor, audit_record
from tenants.events import publish_tenant_event
from tenants.models import (
    ApiKey,
    ApiKeyScope,
    Domain,
    Invitation,
    Membership,
    Role,
    Tenant,
    TenantStatus,
    User,
)
from tenants.roles import MANAGER_ROLES, READ_ONLY_KEY_REFUSED, acts_as_owner, require_role, require_staff
from tenants.schema import clone_tenant_schema, drop_tenant_schema

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
INVITATION_LIFETIME = timedelta(days=7)

logger = logging.getLogger(__name__)


# --- Tenants -------------------------------------------------------------------------------------


def tenant_slug_problem(slug: str) -> str | None:
    """Why `slug` cannot be used for a new tenant, or None when it can."""
    if not SLUG_PATTERN.fullmatch(slug or ""):
        return "Use 3 to 40 characters: lowercase letters, digits and hyphens, starting with a letter."
    if "--" in slug:
        return "Double hyphens are reserved (site hostnames use them as a separator)."
    if slug in settings.RESERVED_TENANT_SLUGS:
        return f"“{slug}” is reserved; choose another name."
    existing = Tenant.objects.filter(slug=slug).values_list("status", flat=True).first()
    if existing is not None and existing != TenantStatus.FAILED:
        return f"“{slug}” is already taken."
    return None


def _normalise_email(email: str, field: str = "email") -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("Enter a valid email address.", field=field) from None
    return email


def tenant_create(*, actor: Actor, slug: str, name: str, owner: User) -> Tenant:
    """Record a new tenant and queue the creation of its schema. It is usable once `active`."""
    slug = (slug or "").strip().lower()
    name = (name or "").strip() or slug
    problem = tenant_slug_problem(slug)
    if problem:
        raise InvalidInput(problem, field="slug")
    if len(name) > 120:
        raise InvalidInput("Use at most 120 characters.", field="name")
    with transaction.atomic():
        # A slug left by a creation that finally failed may be claimed again: drop the remains first.
        for failed in Tenant.objects.select_for_update().filter(slug=slug, status=TenantStatus.FAILED):
            failed.delete(force_drop=True)
        try:
            with transaction.atomic():
                tenant = Tenant.objects.create(slug=slug, name=name)
        except IntegrityError:
            raise InvalidInput(f"“{slug}” is already taken.", field="slug") from None
        Domain.objects.create(domain=tenant.host, tenant=tenant, is_primary=True)
        Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)
        audit_record(actor=actor, action="tenant.create", tenant=tenant, target=slug, owner=owner.email)
        transaction.on_commit(lambda: _queue_provisioning(tenant.pk))
    return tenant


def _queue_provisioning(tenant_id: int) -> None:
    from tenants.tasks import tenant_provision

    # Sent from the public schema on purpose: the tenant's schema does not exist yet.
    tenant_provision.apply_async(args=(tenant_id,), headers={"_schema_name": "public"})


def tenant_provision(*, tenant_id: int) -> Tenant | None:
    """Create the tenant's schema by cloning the template; idempotent, safe to retry.

    The tenant row stays locked while the schema is cloned, so a duplicate delivery (or the
    reconciler) waits and then finds the tenant active, rather than dropping a finished schema.
    Returns None when the tenant no longer exists.
    """
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
        if tenant is None or tenant.status != TenantStatus.PROVISIONING:
            return tenant
        clone_tenant_schema(tenant.schema_name)
        tenant.status = TenantStatus.ACTIVE
        tenant.activated_at = timezone.now()
        tenant.last_error = ""
        tenant.provision_attempts += 1
        tenant.save(update_fields=["status", "activated_at", "last_error", "provision_attempts"])
        audit_record(actor=Actor.system(), action="tenant.activate", tenant=tenant, target=tenant.slug)
        publish_tenant_event(tenant.pk, "tenant.status", {"status": tenant.status, "slug": tenant.slug})
    return tenant


def tenant_provision_failed(*, tenant_id: int, error: str, final: bool) -> None:
    """Record a failed attempt; after the last retry the tenant is `failed` and its slug free again."""
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
        if tenant is None:
            return
        tenant.last_error = error[:2000]
        tenant.provision_attempts += 1
        if final and tenant.status == TenantStatus.PROVISIONING:
            tenant.status = TenantStatus.FAILED
            audit_record(
                actor=Actor.system(), action="tenant.fail", tenant=tenant, target=tenant.slug, error=error[:500]
            )
            publish_tenant_event(tenant.pk, "tenant.status", {"status": TenantStatus.FAILED, "slug": tenant.slug})
        tenant.save(update_fields=["last_error", "status", "provision_attempts"])


def tenant_suspend(*, actor: Actor, tenant: Tenant, reason: str) -> Tenant:
    require_staff(actor, "Only platform staff can suspend an organisation.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason: the tenant's members will see it.", field="reason")
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.status != TenantStatus.ACTIVE:
            raise Conflict(f"Only an active tenant can be suspended; “{tenant.slug}” is {tenant.status}.")
        tenant.status = TenantStatus.SUSPENDED
        tenant.suspended_reason = reason[:500]
        tenant.save(update_fields=["status", "suspended_reason"])
        audit_record(actor=actor, action="tenant.suspend", tenant=tenant, target=tenant.slug, reason=reason)
        publish_tenant_event(tenant.pk, "tenant.status", {"status": tenant.status, "slug": tenant.slug})
        transaction.on_commit(lambda: signals.tenant_suspended.send(sender=Tenant, tenant=tenant))
    return tenant


def tenant_resume(*, actor: Actor, tenant: Tenant, reason: str = "") -> Tenant:
    require_staff(actor, "Only platform staff can resume an organisation.")
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.status != TenantStatus.SUSPENDED:
            raise Conflict(f"Only a suspended tenant can be resumed; “{tenant.slug}” is {tenant.status}.")
        tenant.status = TenantStatus.ACTIVE
        tenant.suspended_reason = ""
        tenant.save(update_fields=["status", "suspended_reason"])
        audit_record(actor=actor, action="tenant.resume", tenant=tenant, target=tenant.slug, reason=reason)
        publish_tenant_event(tenant.pk, "tenant.status", {"status": tenant.status, "slug": tenant.slug})
        transaction.on_commit(lambda: signals.tenant_resumed.send(sender=Tenant, tenant=tenant))
    return tenant


def tenant_delete(*, actor: Actor, tenant: Tenant, confirm: str) -> Tenant:
    """Start deleting an organisation: every app removes what it owns (its sites first), then
    tenant_delete_finish drops the schema. Staff only; the slug typed again confirms it."""
    require_staff(actor, "Only platform staff can delete an organisation.")
    if (confirm or "").strip() != tenant.slug:
        raise InvalidInput(f"Type the organisation's address, {tenant.slug}, to confirm.", field="confirm")
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.status == TenantStatus.DELETING:
            raise Conflict(f"“{tenant.slug}” is already being deleted.")
        if tenant.status == TenantStatus.PROVISIONING:
            raise Conflict(f"“{tenant.slug}” is still being created; delete it once it is active or failed.")
        tenant.status = TenantStatus.DELETING
        tenant.save(update_fields=["status"])
        audit_record(actor=actor, action="tenant.delete", tenant=tenant, target=tenant.slug)
        publish_tenant_event(tenant.pk, "tenant.status", {"status": tenant.status, "slug": tenant.slug})
        transaction.on_commit(lambda: signals.tenant_deletion_requested.send(sender=Tenant, tenant=tenant))
        transaction.on_commit(lambda: _queue_deletion_check(tenant.pk))
    return tenant


def _queue_deletion_check(tenant_id: int) -> None:
    from tenants.tasks import tenant_delete_finish

    tenant_delete_finish.apply_async(args=(tenant_id,), countdown=2, headers={"_schema_name": "public"})


def tenant_delete_finish(*, tenant_id: int) -> dict[str, int] | None:
    """Drop the schema and the tenant once nothing of it is left; else what remains (try again later).
    Returns None when the tenant is gone."""
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
        if tenant is None or tenant.status != TenantStatus.DELETING:
            return None
        remaining = lifecycle.resources_remaining(tenant)
        if remaining:
            # Ask again: a deletion lost on its way, or a site made while it was asked, is removed too
            # (each app ignores what it is removing already).
            transaction.on_commit(lambda: signals.tenant_deletion_requested.send(sender=Tenant, tenant=tenant))
            return remaining
        audit_record(actor=Actor.system("tenant deletion"), action="tenant.deleted", tenant=tenant, target=tenant.slug)
        drop_tenant_schema(tenant.schema_name)
        tenant.delete()
    return None


def tenant_rename(*, actor: Actor, tenant: Tenant, name: str) -> Tenant:
    require_role(actor, tenant, MANAGER_ROLES, "Only owners and admins can rename the organisation.")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("Give a name of 1 to 120 characters.", field="name")
    with transaction.atomic():
        old = tenant.name
        Tenant.objects.filter(pk=tenant.pk).update(name=name)
        key_cache.forget_keys(Q(tenant_id=tenant.pk))  # cached keys carry the tenant, name and all
        tenant.name = name
        audit_record(actor=actor, action="tenant.rename", tenant=tenant, target=tenant.slug, old=old, new=name)
    return tenant


# --- Members and invitations -------------------------------------------------------------------


def _role(value: str, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"Unknown role “{value}”; use one of: {allowed}.", field=field) from None


def _require_manager(actor: Actor, tenant: Tenant) -> str:
    return require_role(actor, tenant, MANAGER_ROLES, "Only owners and admins can manage members and API keys.")


def _guard_owner_change(actor_role: str | None, *roles: str) -> None:
    if Role.OWNER in roles and actor_role != Role.OWNER:
        raise NotPermitted("Only an owner can grant, change or remove the owner role.")


def _owners_locked(tenant: Tenant) -> int:
    # Lock the owner rows so two concurrent demotions cannot both see "another owner remains".
    return len(list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.OWNER)))


def membership_change_role(*, actor: Actor, membership: Membership, role: str) -> Membership:
    new_role = _role(role)
    actor_role = _require_manager(actor, membership.tenant)
    _guard_owner_change(actor_role, membership.role, new_role)
    with transaction.atomic():
        if membership.role == Role.OWNER and new_role != Role.OWNER and _owners_locked(membership.tenant) <= 1:
            raise Conflict("This is the last owner: make someone else owner first.")
        old = membership.role
        membership.role = new_role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="member.role",
            tenant=membership.tenant,
            target=membership.user.email,
            old=old,
            new=new_role,
        )
    return membership


def membership_remove(*, actor: Actor, membership: Membership) -> None:
    is_self = actor.user is not None and actor.user.pk == membership.user_id
    if is_self and actor.api_key is not None:
        # Leaving is a person's decision, made signed in; a key (any key, of any role) never makes it.
        raise NotPermitted("An API key cannot remove the member who created it; leave from the portal instead.")
    if not is_self:
        actor_role = _require_manager(actor, membership.tenant)
        _guard_owner_change(actor_role, membership.role)
    with transaction.atomic():
        if membership.role == Role.OWNER and _owners_locked(membership.tenant) <= 1:
            raise Conflict("This is the last owner: make someone else owner first.")
        audit_record(actor=actor, action="member.remove", tenant=membership.tenant, target=membership.user.email)
        membership.delete()


def tenant_owners_set(*, actor: Actor, tenant: Tenant, emails: list[str]) -> dict[str, list[str]]:
    """Make exactly these people the owners (tenant definitions): each is made a member if needed
    (an account is made for a new address; they sign in by email code or set a password), and an
    owner left out becomes an admin, keeping their access. Only owners (or staff) may do it."""
    if actor.read_only:
        raise NotPermitted(READ_ONLY_KEY_REFUSED)
    if not acts_as_owner(actor, tenant):
        raise NotPermitted("Only owners can choose the organisation's owners.")
    wanted = sorted({_normalise_email(email, field="owners") for email in emails})
    if not wanted:
        raise InvalidInput("An organisation needs at least one owner.", field="owners")
    added: list[str] = []
    demoted: list[str] = []
    with transaction.atomic():
        current = {m.user.email.lower(): m for m in Membership.objects.select_for_update().filter(tenant=tenant)}
        newcomers = [email for email in wanted if email not in current]
        limit = Tenant.objects.values_list("max_members", flat=True).get(pk=tenant.pk)
        if len(current) + len(newcomers) > limit:
            raise Conflict(
                f"The plan allows {limit} members and {len(current)} are here: {len(newcomers)} more owners would "
                "not fit. Remove members first, or ask for a larger plan.",
                field="owners",
            )
        for email in wanted:
            membership = current.get(email)
            if membership is None:
                user = user_ensure(email=email, verified=False)
                Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
                added.append(email)
            elif membership.role != Role.OWNER:
                membership.role = Role.OWNER
                membership.save(update_fields=["role"])
                added.append(email)
        for email, membership in current.items():
            if membership.role == Role.OWNER and email not in wanted:
                membership.role = Role.ADMIN
                membership.save(update_fields=["role"])
                demoted.append(email)
        if added or demoted:
            audit_record(
                actor=actor, action="tenant.owners", tenant=tenant, target=tenant.slug, added=added, demoted=demoted
            )
    return {"added": added, "demoted": demoted}


def invitation_create(*, actor: Actor, tenant: Tenant, email: str, role: str) -> Invitation:
    email = _normalise_email(email)
    new_role = _role(role)
    actor_role = _require_manager(actor, tenant)
    _guard_owner_change(actor_role, new_role)
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise InvalidInput(f"{email} is already a member.", field="email")
    seats = Membership.objects.filter(tenant=tenant).count() + sum(
        1 for i in Invitation.objects.filter(tenant=tenant, accepted_at=None, revoked_at=None) if i.is_pending
    )
    if seats >= tenant.max_members:
        raise Conflict(f"The plan allows {tenant.max_members} members and pending invitations.")
    token = tokens.new_invitation_token()
    with transaction.atomic():
        # An expired invitation to the same address no longer blocks a new one.
        Invitation.objects.filter(
            tenant=tenant, email=email, accepted_at=None, revoked_at=None, expires_at__lte=timezone.now()
        ).update(revoked_at=timezone.now())
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    tenant=tenant,
                    email=email,
                    role=new_role,
                    token_hash=tokens.digest(token),
                    invited_by=actor.user,
                    expires_at=timezone.now() + INVITATION_LIFETIME,
                )
        except IntegrityError:
            raise Conflict(f"{email} already has a pending invitation.") from None
        audit_record(actor=actor, action="invitation.create", tenant=tenant, target=email, role=new_role)
        transaction.on_commit(lambda: _send_invitation_email(invitation, token))
    return invitation


def invitation_accept_url(token: str) -> str:
    port = f":{settings.PLATFORM_PORT}" if settings.PLATFORM_PORT else ""
    return f"{settings.PLATFORM_SCHEME}://{settings.PLATFORM_DOMAIN}{port}/invitations/{token}/"


def _send_invitation_email(invitation: Invitation, token: str) -> None:
    inviter = invitation.invited_by.email if invitation.invited_by else "Someone"
    send_mail(
        subject=f"Join {invitation.tenant.name} on AIPress",
        message=(
            f"{inviter} invited you to {invitation.tenant.name} as {invitation.role}.\n\n"
            f"Accept within 7 days: {invitation_accept_url(token)}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_find(token: str) -> Invitation | None:
    return Invitation.objects.select_related("tenant").filter(token_hash=tokens.digest(token)).first()


def invitation_accept(*, token: str, user: User) -> Membership:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("tenant")
            .filter(token_hash=tokens.digest(token))
            .first()
        )
        if invitation is None or not invitation.is_pending:
            raise Conflict("This invitation is no longer valid: it was used, revoked or has expired.")
        if invitation.email.lower() != user.email.lower():
            raise NotPermitted(f"This invitation was sent to {invitation.email}; sign in with that address.")
        membership, _ = Membership.objects.get_or_create(
            user=user, tenant=invitation.tenant, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        audit_record(actor=Actor.of_user(user), action="invitation.accept", tenant=invitation.tenant, target=user.email)
    return membership


def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    _require_manager(actor, invitation.tenant)
    with transaction.atomic():
        if not invitation.is_pending:
            raise Conflict(f"This invitation is already {invitation.state}.")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="invitation.revoke", tenant=invitation.tenant, target=invitation.email)
    return invitation


# --- API keys --------------------------------------------------------------------------------


def api_key_create(
    *,
    actor: Actor,
    tenant: Tenant | None,
    name: str,
    role: str = Role.ADMIN,
    owner: User | None = None,
    scope: str = ApiKeyScope.WRITE,
) -> tuple[ApiKey, str]:
    """Returns the key and its secret value, which is never available again.

    A key belongs to a person: the acting user, or `owner` when the platform itself (the CLI) makes
    one on their behalf. It can never do more than that person may do at the time it is used, and a
    read-scoped key never changes anything (tenants.authentication, tenants.roles).
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("Give the key a name of 1 to 100 characters.", field="name")
    try:
        key_scope = ApiKeyScope(scope)
    except ValueError:
        allowed = ", ".join(each.value for each in ApiKeyScope)
        raise InvalidInput(f"Unknown scope “{scope}”; use one of: {allowed}.", field="scope") from None
    if actor.read_only:
        # Said here too: a staff key's path below passes no writer role set (tenants.roles).
        raise NotPermitted(READ_ONLY_KEY_REFUSED)
    holder = owner if actor.is_system else actor.user
    if holder is None:
        raise NotPermitted("An API key belongs to a person; sign in first.")
    if tenant is None:
        if not holder.is_staff or not (actor.is_system or actor.is_staff):
            raise NotPermitted("Only platform staff can create staff keys.")
        key_role = Role.ADMIN
    else:
        _require_manager(actor, tenant)
        key_role = _role(role)
        if key_role == Role.OWNER:
            raise InvalidInput("An API key cannot hold the owner role.", field="role")
    raw, prefix = tokens.new_api_key()
    with transaction.atomic():
        if tenant is not None:
            # Locked: two concurrent creations cannot both slip under the plan's limit.
            locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
            active = ApiKey.objects.filter(tenant=tenant, revoked_at=None).count()
            if active >= locked.max_api_keys:
                raise Conflict(f"The plan allows {locked.max_api_keys} active API keys; revoke one first.")
        key = ApiKey.objects.create(
            tenant=tenant,
            name=name,
            prefix=prefix,
            key_hash=tokens.digest(raw),
            role=key_role,
            scope=key_scope,
            created_by=holder,
        )
        audit_record(
            actor=actor, action="apikey.create", tenant=tenant, target=prefix, name=name, scope=key_scope.value
        )
    return key, raw


def api_key_revoke(*, actor: Actor, key: ApiKey) -> ApiKey:
    # Staff may revoke any key from the staff console: stopping a leaked key is an operator's job.
    if not (actor.is_system or actor.is_staff):
        if key.tenant is None:
            raise NotPermitted("Only platform staff can revoke staff keys.")
        _require_manager(actor, key.tenant)
    with transaction.atomic():
        if key.revoked_at is not None:
            raise Conflict("This key is already revoked.")
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="apikey.revoke", tenant=key.tenant, target=key.prefix, name=key.name)
    return key


TOUCH_SECONDS = 60
_touch_asked: dict[int, float] = {}  # key id -> when this process last asked Redis (monotonic)


def api_key_touch(key: ApiKey) -> None:
    """Record that a key was used: at most once a minute per key across every process (a Redis SET NX
    that expires), and off the request path: a task writes `last_used_at`, after this request's
    transaction, if any, commits. Each process asks Redis at most once a minute per key, so the
    request path costs a dictionary lookup."""
    now = time.monotonic()
    if now - _touch_asked.get(key.pk, -TOUCH_SECONDS) < TOUCH_SECONDS:
        return
    _touch_asked[key.pk] = now
    try:
        first = cache.add(f"apikey-used:{key.pk}", 1, TOUCH_SECONDS)
    except Exception:
        logger.warning("could not record an API key's use", exc_info=True)
        return
    if first:
        from tenants.tasks import api_key_used

        used_at = timezone.now().isoformat()

        def queue() -> None:
            try:
                api_key_used.delay(key.pk, used_at)
            except Exception:  # a broker that is down must not fail the request it is recording
                logger.warning("could not queue an API key's last use", exc_info=True)

        transaction.on_commit(queue, robust=True)


def api_key_record_use(*, key_id: int, used_at: datetime) -> None:
    """The task's write: never moves `last_used_at` back (tasks may run out of order)."""
    ApiKey.objects.filter(pk=key_id).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at)).update(
        last_used_at=used_at
    )


# --- Users -----------------------------------------------------------------------------------


def user_ensure(*, email: str, password: str | None = None, is_staff: bool = False, verified: bool = True) -> User:
    """Find or create a user (CLI and demo); marks the email verified for allauth when asked."""
    from allauth.account.models import EmailAddress

    email = _normalise_email(email, field="owner")
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, is_staff=is_staff, is_superuser=is_staff)
    elif password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    if verified:
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user

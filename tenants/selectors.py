"""Every read of tenants, people and credentials, scoped to one tenant where it belongs to one.
Returns lists, so nothing lazy can escape and be evaluated later in another tenant's context."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from tenants.models import ApiKey, AuditEvent, Invitation, Membership, Tenant, TenantStatus, User


def tenant_get_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def tenant_list(*, status: str | None = None, search: str = "") -> list[Tenant]:
    qs = Tenant.objects.annotate(member_count=Count("memberships"))
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(Q(slug__icontains=search) | Q(name__icontains=search))
    return list(qs.order_by("slug"))


def tenants_stuck_provisioning(*, older_than_seconds: int) -> list[Tenant]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(Tenant.objects.filter(status=TenantStatus.PROVISIONING, created_at__lt=cutoff))


def tenants_being_deleted() -> list[int]:
    return list(Tenant.objects.filter(status=TenantStatus.DELETING).values_list("pk", flat=True))


def membership_for(*, user: User, tenant: Tenant) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, tenant=tenant).first()


def role_for(*, user: User, tenant: Tenant) -> str | None:
    membership = membership_for(user=user, tenant=tenant)
    return membership.role if membership else None


def memberships_of_user(user: User) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name"))


def member_list(*, tenant: Tenant) -> list[Membership]:
    return list(Membership.objects.filter(tenant=tenant).select_related("user").order_by("created_at"))


def member_get(*, tenant: Tenant, member_id: int) -> Membership | None:
    return Membership.objects.filter(tenant=tenant, pk=member_id).select_related("user", "tenant").first()


def invitation_list(*, tenant: Tenant, pending_only: bool = True) -> list[Invitation]:
    invitations = list(Invitation.objects.filter(tenant=tenant).select_related("invited_by"))
    return [i for i in invitations if i.is_pending] if pending_only else invitations


def invitation_get(*, tenant: Tenant, invitation_id: int) -> Invitation | None:
    return Invitation.objects.filter(tenant=tenant, pk=invitation_id).select_related("tenant").first()


def api_key_list(*, tenant: Tenant | None) -> list[ApiKey]:
    return list(ApiKey.objects.filter(tenant=tenant).select_related("created_by"))


def api_key_get(*, tenant: Tenant | None, key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(tenant=tenant, pk=key_id).select_related("tenant").first()


def audit_list(*, tenant: Tenant, limit: int = 100) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tenant=tenant).order_by("-created_at")[:limit])

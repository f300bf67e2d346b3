"""Who is acting, and the audit row every service writes."""

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from tenants.models import AuditEvent, Tenant, User


@dataclass(frozen=True)
class Actor:
    """The person (or their API key, or the system) behind a write, and where they came from."""

    user: User | None
    label: str
    ip_address: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(user=None, label=label)

    @classmethod
    def of_user(cls, user: User, ip_address: str | None = None) -> "Actor":
        return cls(user=user, label=user.email, ip_address=ip_address)

    @classmethod
    def from_request(cls, request: HttpRequest) -> "Actor":
        user = request.user if request.user.is_authenticated else None
        api_key = getattr(request, "api_key", None)
        ip = request.META.get("REMOTE_ADDR")
        if api_key is not None:
            return cls(user=user, label=f"api key {api_key.prefix} of {user.email if user else '?'}", ip_address=ip)
        return cls(user=user, label=user.email if user else "anonymous", ip_address=ip)


def audit_record(*, actor: Actor, action: str, tenant: Tenant | None, target: str = "", **details: Any) -> AuditEvent:
    return AuditEvent.objects.create(
        tenant=tenant,
        tenant_slug=tenant.slug if tenant else "",
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        target=target,
        details=details,
        ip_address=actor.ip_address,
    )

"""Who is acting, and the audit row every service writes."""

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from tenants.models import ApiKey, AuditEvent, Tenant, User


@dataclass(frozen=True)
class Actor:
    """The person behind a write (signed in, or through one of their API keys), or a named part of
    the platform itself (the CLI, beat, the reconciler), and where the request came from."""

    user: User | None
    label: str
    ip_address: str | None = None
    # The key the person acts through, when they do: it limits what they may do (tenants.roles).
    api_key: ApiKey | None = None
    # A part of the platform, not a person: the operator who runs the CLI, or a scheduled job.
    is_system: bool = False

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(user=None, label=label, is_system=True)

    @classmethod
    def staff_console(cls, user: User, ip_address: str | None = None) -> "Actor":
        """Platform staff acting from the staff console: the platform's own hand, with their name on it."""
        return cls(user=user, label=f"staff console: {user.email}", ip_address=ip_address, is_system=True)

    @classmethod
    def of_user(cls, user: User, ip_address: str | None = None) -> "Actor":
        return cls(user=user, label=user.email, ip_address=ip_address)

    @classmethod
    def of_key(cls, key: ApiKey, ip_address: str | None = None) -> "Actor":
        return cls(
            user=key.created_by,
            label=f"api key {key.prefix} of {key.created_by.email}",
            ip_address=ip_address,
            api_key=key,
        )

    @classmethod
    def from_request(cls, request: HttpRequest) -> "Actor":
        from kernel.client_address import client_ip

        ip = client_ip(request)
        api_key = getattr(request, "api_key", None)
        if api_key is not None:
            return cls.of_key(api_key, ip)
        user = request.user if request.user.is_authenticated else None
        if user is None:
            return cls(user=None, label="anonymous", ip_address=ip)
        return cls.of_user(user, ip)

    @property
    def is_staff(self) -> bool:
        """Platform staff acting as themselves: signed in, or through a staff (tenant-less) key."""
        if self.user is None or not self.user.is_staff:
            return False
        return self.api_key is None or self.api_key.is_staff_key

    @property
    def read_only(self) -> bool:
        """Acting through a read-scoped key: may look, must not change anything."""
        return self.api_key is not None and self.api_key.is_read_only


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

"""Who calls over MCP, and where they act: an API key decides both.

Over stdio the key (AIPRESS_API_KEY) is the whole answer: its tenant, or staff mode for a staff key.
Over HTTP the host must agree with it: `/mcp` on `<tenant>.<PLATFORM_DOMAIN>` takes that tenant's
keys only, and on the public host only staff keys. The chat's own access check (chat.access) then
decides as it does for the chat: the key's creator must still be a member (or staff), the tenant
must not be suspended.
"""

from dataclasses import dataclass, replace

from django.conf import settings

from chat.access import require_chat_access
from chat.messages import ChatScope
from chat.tools import system_actor_for_staff
from kernel.errors import NotFound, NotPermitted, ServiceError
from tenants.audit import Actor
from tenants.middleware import lookup_api_key
from tenants.models import ApiKey, Domain, Tenant
from tenants.services import api_key_touch

DOOR = "mcp"


class Unauthenticated(ServiceError):
    """No usable key (HTTP 401): missing, malformed, revoked, or its owner deactivated."""


@dataclass(frozen=True)
class Caller:
    """An MCP client: the key it holds, the person behind the key, and where it may act."""

    key: ApiKey
    actor: Actor
    scope: ChatScope  # the key's tenant for members; none for a staff key (it names the tenant per call)

    @property
    def staff(self) -> bool:
        return self.scope.staff

    @property
    def read_only(self) -> bool:
        return self.key.is_read_only

    def actor_in(self, tenant: Tenant | None) -> Actor:
        """Who a call acts as: the key's person; for staff, the platform's hand in their name (as in
        the staff chat), still holding the key so a read key stays read-only."""
        if self.staff and self.actor.user is not None:
            return system_actor_for_staff(self.actor.user, door="staff mcp", api_key=self.key)
        return self.actor


def caller_for_key(raw: str, *, ip_address: str | None = None) -> Caller:
    """The caller a raw key stands for. Unauthenticated when the key is no good; NotFound or
    NotPermitted (both a 403 on HTTP) when it may not use the tools now. Public schema active."""
    key = lookup_api_key(raw.strip())
    if key is None:
        raise Unauthenticated("This API key is invalid or revoked; create a new one in the portal.")
    if not key.created_by.is_active:
        raise Unauthenticated("The owner of this API key is deactivated.")
    actor = Actor.of_key(key, ip_address)
    caller = Caller(key=key, actor=replace(actor, label=f"{DOOR}, {actor.label}"), scope=ChatScope(tenant=key.tenant))
    try:
        require_chat_access(scope=caller.scope, actor=caller.actor)
    except NotFound as exc:
        # The key is genuine: say why it stopped working rather than that nothing is here.
        if key.tenant is None:
            raise NotPermitted("The owner of this staff key is no longer platform staff.") from exc
        raise NotPermitted(
            f"This API key's creator is no longer a member of “{key.tenant.name}”, so the key no longer works."
        ) from exc
    api_key_touch(key)
    return caller


def tenant_of_host(host: str) -> Tenant | None:
    """The tenant whose host this is; None for the public host. NotFound for a host of nobody."""
    if host == settings.PLATFORM_DOMAIN:
        return None
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    if domain is None:
        raise NotFound(f"There is no organisation at {host}.")
    return domain.tenant


def caller_for_http(raw: str, *, host: str, ip_address: str | None = None) -> Caller:
    """A key used on a host: the key must belong to the host's tenant, or be a staff key on the
    public host. A key of one tenant on another's host is refused (NotPermitted) before anything."""
    caller = caller_for_key(raw, ip_address=ip_address)
    here = tenant_of_host(host)
    there = caller.key.tenant
    if here is None and there is not None:
        raise NotPermitted(f"This API key belongs to {there.slug}: use https://{there.host}/mcp.")
    if here is not None and there is None:
        raise NotPermitted(f"A staff key works on the platform's own host: https://{settings.PLATFORM_DOMAIN}/mcp.")
    if here is not None and there is not None and here.pk != there.pk:
        raise NotPermitted(f"This API key does not belong to {here.slug}.")
    return caller

"""Websockets: the tenant comes from the Host header, the user from the session cookie.

django-tenants has no ASGI support and Channels runs all ORM work of a process on one thread whose
connection keeps the last schema, so every database call here sets the schema it needs first.
"""

from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections
from django.http.request import validate_host
from django.urls import path

from tenants.events import tenant_events_group
from tenants.models import Domain, Membership, Tenant, TenantStatus
from tenants.schema import use_public_schema

# Close codes in the 4000 range are ours: 4401 not signed in, 4403 a page of another site opened
# the socket (its Origin is not one of ours), 4404 no such tenant or not a member. The socket is
# accepted first and then closed with the code: a refusal during the handshake would reach the
# browser as a bare HTTP 403, with no code a client can act on.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FOREIGN_ORIGIN = 4403
CLOSE_NOT_MEMBER = 4404


def _header(scope: dict, wanted: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return ""


def host_from_scope(scope: dict) -> str:
    return _header(scope, b"host").split(":")[0].lower()


def _origin_is_ours(scope: dict) -> bool:
    """A page of ours opened the socket (cross-site pages could otherwise ride the session cookie)."""
    origin = urlsplit(_header(scope, b"origin"))
    return origin.hostname is not None and validate_host(origin.hostname, settings.ALLOWED_HOSTS)


@database_sync_to_async
def _tenant_for_host(host: str) -> Tenant | None:
    close_old_connections()
    use_public_schema()
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    return domain.tenant if domain else None


@database_sync_to_async
def _may_watch(user: Any, tenant: Tenant) -> bool:
    use_public_schema()
    if user.is_staff:
        return True
    return Membership.objects.filter(user_id=user.pk, tenant_id=tenant.pk).exists()


@database_sync_to_async
def _current_status(tenant_id: int) -> str | None:
    use_public_schema()
    return Tenant.objects.filter(pk=tenant_id).values_list("status", flat=True).first()


class _TenantFromHost:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        scope = dict(scope)
        scope["tenant"] = await _tenant_for_host(host_from_scope(scope))
        scope["origin_is_ours"] = _origin_is_ours(scope)
        return await self.inner(scope, receive, send)


def TenantWebsocketMiddleware(inner: Any) -> Any:  # noqa: N802 - reads like the other middleware stacks
    return _TenantFromHost(AuthMiddlewareStack(inner))


class TenantEventsConsumer(AsyncJsonWebsocketConsumer):
    """Streams the current tenant's events to its members. Read-only: client messages are ignored."""

    group: str | None = None

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def connect(self) -> None:
        user = self.scope.get("user")
        tenant: Tenant | None = self.scope.get("tenant")
        if not self.scope.get("origin_is_ours"):
            await self._refuse(CLOSE_FOREIGN_ORIGIN)
            return
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        if tenant is None or not await _may_watch(user, tenant):
            await self._refuse(CLOSE_NOT_MEMBER)
            return
        self.group = tenant_events_group(tenant.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # The first message is the current state, so a client that connects late misses nothing.
        status = await _current_status(tenant.pk)
        await self.send_json({"event": "tenant.status", "payload": {"status": status, "slug": tenant.slug}})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None

    async def tenant_event(self, message: dict) -> None:
        await self.send_json({"event": message["event"], "payload": message["payload"]})


websocket_urlpatterns = [path("ws/events/", TenantEventsConsumer.as_asgi())]

__all__ = ["TenantEventsConsumer", "TenantStatus", "TenantWebsocketMiddleware", "websocket_urlpatterns"]

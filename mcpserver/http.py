"""`/mcp`: the MCP server's streamable HTTP endpoint, in front of Django (aipress.asgi).

Each request is authenticated here, before the SDK sees it: `Authorization: Bearer <API key>`, the
key's tenant matching the host (mcpserver.access). No key or a bad one: 401; a key that may not act
here (another tenant's, a staff key on a tenant's host, a suspended tenant): 403; a host of nobody:
404. The caller then travels in the ASGI scope to the tool handlers (mcpserver.server), and the SDK
binds each session to the key that opened it. The SDK's own DNS-rebinding guard (allowed hosts and
origins) is not needed: the host must be one of ours, and the Bearer key is not something a web page
can make a browser send on its user's behalf.

The SDK's session manager needs a task group for its sessions, normally started by the ASGI
lifespan, which Django's ASGI handler does not speak: it is started with the first request of each
event loop instead, and lives as long as that loop.
"""

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.http import HttpRequest
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.responses import JSONResponse

from kernel.client_address import client_ip
from kernel.errors import NotFound, ServiceError
from kernel.problems import PROBLEM_CONTENT_TYPE, problem
from mcpserver.access import Caller, Unauthenticated, caller_for_http
from mcpserver.server import CALLER_SCOPE_KEY, build_server, in_thread
from tenants.schema import use_public_schema
from tenants.websocket import host_from_scope

MCP_PATH = "/mcp"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return bytes(value).decode("latin-1")
    return ""


def _bearer(scope: Scope) -> str | None:
    scheme, _, value = _header(scope, b"authorization").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _client_address(scope: Scope) -> str | None:
    """The client's address as the rest of the platform works it out (trusted proxies included)."""
    request = HttpRequest()
    client = scope.get("client")
    request.META = {
        "REMOTE_ADDR": client[0] if client else "",
        "HTTP_X_FORWARDED_FOR": _header(scope, b"x-forwarded-for"),
    }
    return client_ip(request)


def _authenticate(raw: str, host: str, ip_address: str | None) -> Caller:
    use_public_schema()
    return caller_for_http(raw, host=host, ip_address=ip_address)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    headers = {"WWW-Authenticate": 'Bearer realm="aipress"'} if status == 401 else None
    body = problem(status, detail, instance=str(scope.get("path", "")))
    await JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)(scope, receive, send)


class _SessionManagers:
    """One SDK session manager per running event loop, started by its first request."""

    def __init__(self, server: Server[Any]) -> None:
        self.server = server
        self._running: dict[
            asyncio.AbstractEventLoop,
            tuple[asyncio.Future[StreamableHTTPSessionManager], asyncio.Task[None]],
        ] = {}

    async def get(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        if loop not in self._running:
            ready: asyncio.Future[StreamableHTTPSessionManager] = loop.create_future()
            holder = loop.create_task(self._hold(StreamableHTTPSessionManager(app=self.server), ready))
            holder.add_done_callback(lambda _: self._running.pop(loop, None))
            self._running[loop] = (ready, holder)
        return await asyncio.shield(self._running[loop][0])

    @staticmethod
    async def _hold(manager: StreamableHTTPSessionManager, ready: asyncio.Future[StreamableHTTPSessionManager]) -> None:
        """Run the manager until its event loop ends (a server shutting down cancels this task)."""
        try:
            async with manager.run():
                ready.set_result(manager)
                await asyncio.Event().wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise
        finally:
            if not ready.done():
                ready.cancel()


class McpEndpoint:
    """The ASGI app of `/mcp`: our authentication, then the SDK's streamable HTTP transport."""

    def __init__(self) -> None:
        self.managers = _SessionManagers(build_server())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = _bearer(scope)
        if raw is None:
            await _refuse(scope, receive, send, 401, "Send an API key: Authorization: Bearer <key>.")
            return
        try:
            caller = await in_thread(_authenticate, raw, host_from_scope(dict(scope)), _client_address(scope))
        except Unauthenticated as exc:
            await _refuse(scope, receive, send, 401, exc.message)
            return
        except NotFound as exc:
            await _refuse(scope, receive, send, 404, exc.message)
            return
        except ServiceError as exc:
            await _refuse(scope, receive, send, 403, exc.message)
            return
        scope = dict(scope)
        scope[CALLER_SCOPE_KEY] = caller
        # The SDK binds a session to the credential that opened it: the key, never its secret.
        token = AccessToken(token=caller.key.prefix, client_id=caller.key.prefix, scopes=[caller.key.scope])
        scope["user"] = AuthenticatedUser(token)
        manager = await self.managers.get()
        await manager.handle_request(scope, receive, send)


class WithMcp:
    """`/mcp` to the MCP endpoint, everything else to `inner` (Django)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.endpoint = McpEndpoint()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and str(scope.get("path", "")).rstrip("/") == MCP_PATH:
            await self.endpoint(scope, receive, send)
            return
        await self.inner(scope, receive, send)

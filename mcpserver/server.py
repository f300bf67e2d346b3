"""The MCP server: the chat's tools for any MCP client, over stdio (`manage.py mcp`) and streamable
HTTP (`/mcp`, mcpserver.http), on the SDK's low-level server (it serves both protocol eras: the
initialize handshake, and 2026-07-28's self-contained requests).

A tool that confirms first (chat.tools.Tool.confirm) acts only once the person said yes:
- a client that can ask its user (the `elicitation` capability) is asked, within the call: by an
  elicitation request on a handshake connection, by an `input_required` result on a 2026-07-28 one;
- any other client gets what the call would do and an action id, and calls again with that id.
Either way the confirmation is an McpAction bound to the key, the tool and the exact arguments,
expiring, used once. Nothing depends on a client honouring the tools' annotations.

Every database call runs in a worker thread, in the schema it needs (mcpserver.calls): Django's ORM
is synchronous and django-tenants' schema belongs to a thread's connection.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp import types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from kernel.errors import ServiceError
from mcpserver.access import Caller, caller_for_key
from mcpserver.calls import ACTION_TTL, Call, action_decide, action_open, call_check, call_run
from mcpserver.models import McpAction
from mcpserver.tools import ACTION_ID, mcp_tools
from tenants.schema import use_public_schema

logger = logging.getLogger(__name__)

T = TypeVar("T")
Context = ServerRequestContext[Any, Any]

SERVER_NAME = "aipress"
SERVER_VERSION = "1.0"
INSTRUCTIONS = (
    "AIPress hosts WordPress sites. These tools act in the organisation of your API key (a staff key "
    "names the tenant in each call). Tools that delete or suspend first answer what they would do and "
    "an action_id: call them again with it, after the person agreed."
)
# The scope entry in which mcpserver.http leaves the caller of an HTTP request.
CALLER_SCOPE_KEY = "aipress.mcp.caller"
# The key of the confirmation in an `input_required` result (2026-07-28).
CONFIRM_INPUT = "confirm"
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Do it", "default": False}},
    "required": ["confirm"],
}


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database work, off the event loop; its connection goes back when done. Not thread-sensitive
    (as chat.consumers): one client's slow call must not hold up every other request of the process."""

    def run() -> T:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return await sync_to_async(run, thread_sensitive=False)()


def _text_result(message: str, data: dict[str, Any], *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], structured_content=data, is_error=error)


def _refused(message: str) -> types.CallToolResult:
    return _text_result(message, {"ok": False, "message": message}, error=True)


def _elicits(ctx: Context) -> bool:
    """Whether the client can ask its user a yes/no question during this call."""
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return False
    elicitation = capabilities.elicitation
    if elicitation.form is None and elicitation.url is not None:
        return False  # URL mode only: no form to answer yes in
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or ctx.session.can_send_request


def _accepted(answer: object) -> bool:
    return (
        isinstance(answer, types.ElicitResult)
        and answer.action == "accept"
        and (answer.content or {}).get("confirm") is True
    )


def _waiting(action: McpAction) -> types.CallToolResult:
    minutes = int(ACTION_TTL.total_seconds() // 60)
    message = (
        f"{action.summary} Nothing was done yet. To do it, call {action.tool} again with the same arguments "
        f'and action_id "{action.action_id}" (valid for {minutes} minutes, once).'
    )
    data = {
        "ok": True,
        "confirmation_required": True,
        ACTION_ID: action.action_id,
        "summary": action.summary,
        "expires_at": action.expires_at.isoformat(),
    }
    return _text_result(message, data)


def _cancelled(action: McpAction) -> types.CallToolResult:
    message = f"Cancelled: {action.summary.rstrip('?')} — nothing was done."
    return _text_result(message, {"ok": True, "cancelled": True, "summary": action.summary})


def _stdio_caller(raw_key: str) -> Caller:
    use_public_schema()
    return caller_for_key(raw_key)


class McpServer:
    """The handlers of one server. Every request is authenticated afresh (a key revoked, a member
    removed, a tenant suspended: the next request knows): over HTTP by mcpserver.http, which leaves
    the caller in the ASGI scope; over stdio here, from the process's one key."""

    def __init__(self, raw_key: str | None = None) -> None:
        self.raw_key = raw_key

    async def caller_of(self, ctx: Context) -> Caller:
        """The caller of this request; a ServiceError when its key may no longer be used."""
        if self.raw_key is not None:
            return await in_thread(_stdio_caller, self.raw_key)
        request = ctx.request
        caller = request.scope.get(CALLER_SCOPE_KEY) if request is not None else None
        if not isinstance(caller, Caller):
            raise MCPError(code=types.INVALID_REQUEST, message="Send an API key: Authorization: Bearer <key>.")
        return caller

    async def list_tools(self, ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        try:
            caller = await self.caller_of(ctx)
        except ServiceError as exc:
            raise MCPError(code=types.INVALID_REQUEST, message=exc.message) from exc
        return types.ListToolsResult(tools=mcp_tools(staff=caller.staff, read_only=caller.read_only))

    async def call_tool(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        try:
            caller = await self.caller_of(ctx)
            call = await in_thread(call_check, caller, params.name, dict(params.arguments or {}))
            if not call.tool.asks_first:
                return await self._run(caller, call)
            return await self._confirmed(ctx, caller, call, params)
        except ServiceError as exc:
            return _refused(exc.message)

    async def _run(self, caller: Caller, call: Call) -> types.CallToolResult:
        result, outcome = await in_thread(call_run, caller, call)
        return _text_result(str(result["message"]), result, error=outcome is None)

    async def _confirmed(
        self, ctx: Context, caller: Caller, call: Call, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        """A tool that confirms first: act on a confirmation, or ask for one."""
        if params.request_state is not None:
            # 2026-07-28: the client retries with its user's answer to our input request.
            answer = (params.input_responses or {}).get(CONFIRM_INPUT)
            action = await in_thread(action_decide, caller, call, params.request_state, confirm=_accepted(answer))
            return await self._run(caller, call) if _accepted(answer) else _cancelled(action)
        if call.action_id is not None:
            await in_thread(action_decide, caller, call, call.action_id, confirm=True)
            return await self._run(caller, call)
        action = await in_thread(action_open, caller, call)
        if not _elicits(ctx):
            return _waiting(action)
        question = types.ElicitRequestFormParams(message=action.summary, requested_schema=CONFIRM_SCHEMA)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return types.InputRequiredResult(
                input_requests={CONFIRM_INPUT: types.ElicitRequest(params=question)},
                request_state=action.action_id,
            )
        try:
            answer = await ctx.session.elicit_form(
                question.message, question.requested_schema, related_request_id=ctx.request_id
            )
        except (MCPError, NoBackChannelError):
            logger.info("mcp elicitation failed; answering with the action id", exc_info=True)
            return _waiting(action)
        await in_thread(action_decide, caller, call, action.action_id, confirm=_accepted(answer))
        return await self._run(caller, call) if _accepted(answer) else _cancelled(action)


def build_server(raw_key: str | None = None) -> Server[Any]:
    """The server; `raw_key` for stdio (the process's key), none for HTTP (each request brings one)."""
    handlers = McpServer(raw_key)
    return Server(
        SERVER_NAME,
        version=SERVER_VERSION,
        instructions=INSTRUCTIONS,
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
        # Our tools declare no Mcp-Param headers: nothing to check them against (and no tools/list
        # round to the database before every 2026-07-28 call).
        get_tool_input_schema=lambda name: None,
    )


async def serve_stdio(raw_key: str) -> None:
    """Serve one client on stdin/stdout, as the API key `raw_key`, until it leaves."""
    server = build_server(raw_key)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())

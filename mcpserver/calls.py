"""A tool call over MCP, checked and run the way the chat checks and runs one (chat.access,
chat.tools.tool_call), and the confirmations of the tools that confirm first.

Everything here touches the database and runs in a worker thread (mcpserver.server.in_thread);
each function enters the schema it needs itself.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from chat.access import call_arguments, call_tenant
from chat.models import ActionState
from chat.tools import REGISTRY, TENANT_ARGUMENT, Tool, ToolResult, tool_call
from kernel.errors import Conflict, InvalidInput, NotFound, NotPermitted
from mcpserver.access import DOOR, Caller
from mcpserver.models import McpAction
from mcpserver.tools import ACTION_ID, visible
from tenants.models import Tenant
from tenants.roles import READ_ONLY_KEY_REFUSED

PUBLIC_SCHEMA = "public"
ACTION_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class Call:
    """A call that passed every check of the chat: ready to run, or to be confirmed first."""

    tool: Tool
    arguments: dict[str, Any]  # as the registry takes them: no action_id
    tenant: Tenant | None  # None: across tenants (staff, a tool with `run_across`)
    action_id: str | None = None  # the confirmation this call brings, if any


def call_check(caller: Caller, name: str, arguments: dict[str, Any]) -> Call:
    """Refuse (a ServiceError, nothing run) what the chat refuses: an unknown tool or argument,
    another tenant named by a member, a missing argument, a tenant that does not exist; and what the
    key may not call: a tool that changes something, through a read-scoped key. (Whether the caller
    may use the tools at all was checked with its key, mcpserver.access, at this very request.)"""
    with schema_context(PUBLIC_SCHEMA):
        tool = REGISTRY.get(name)
        if tool is None:
            raise NotFound(f"There is no tool “{name}”; tools/list has them all.")
        if not visible(tool, read_only=caller.read_only):
            raise NotPermitted(f"{tool.name} changes things; nothing was done. {READ_ONLY_KEY_REFUSED}")
        arguments = dict(arguments)
        action_id = arguments.pop(ACTION_ID, None) if tool.asks_first else None
        if action_id is not None and not isinstance(action_id, str):
            raise InvalidInput("action_id is the text the first call answered.", field=ACTION_ID)
        arguments = call_arguments(tool, arguments, scope=caller.scope, actor=caller.actor)
        missing = [each for each in tool.parameters(staff=caller.staff)["required"] if each not in arguments]
        if missing:
            raise InvalidInput(
                f"{tool.name} needs {', '.join(missing)}: {tool.question(missing[0], arguments)}", field=missing[0]
            )
        if caller.staff and tool.run_across is not None and TENANT_ARGUMENT not in arguments:
            tenant = None
        else:
            tenant = call_tenant(arguments, scope=caller.scope)
        if "site" in arguments:
            arguments["site"] = str(arguments["site"]).strip().lower()
    return Call(tool=tool, arguments=arguments, tenant=tenant, action_id=action_id or None)


def call_run(caller: Caller, call: Call) -> tuple[dict[str, Any], ToolResult | None]:
    """Run the call as the caller, in its tenant's schema (across tenants: the public one)."""
    if call.tenant is not None:
        with tenant_context(call.tenant):
            return _run(caller, call)
    with schema_context(PUBLIC_SCHEMA):
        return _run(caller, call)


def _run(caller: Caller, call: Call) -> tuple[dict[str, Any], ToolResult | None]:
    actor = caller.actor_in(call.tenant)
    return tool_call(call.tool, call.arguments, tenant=call.tenant, actor=actor, staff=caller.staff, door=DOOR)


# --- Confirmations -------------------------------------------------------------------------------


def _digest(call: Call) -> str:
    canonical = json.dumps(
        {"tool": call.tool.name, "arguments": call.arguments},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def action_open(caller: Caller, call: Call) -> McpAction:
    """A confirmation for this call, bound to the caller's key, the tool and these exact arguments."""
    now = timezone.now()
    with schema_context(PUBLIC_SCHEMA):
        # The key's stale ones go as new ones come: nothing else needs them.
        McpAction.objects.filter(api_key=caller.key, expires_at__lt=now - ACTION_TTL).delete()
        return McpAction.objects.create(
            action_id=secrets.token_hex(16),
            api_key=caller.key,
            tenant=call.tenant,
            tool=call.tool.name,
            arguments_digest=_digest(call),
            summary=call.tool.summary(call.arguments)[:400],
            expires_at=now + ACTION_TTL,
        )


def action_decide(caller: Caller, call: Call, action_id: str, *, confirm: bool) -> McpAction:
    """Confirm (or cancel) the waiting action `action_id`: only through the key it was given to,
    for the same tool and arguments, before it expires, once. Refused otherwise (a ServiceError)."""
    now = timezone.now()
    with schema_context(PUBLIC_SCHEMA), transaction.atomic():
        action = McpAction.objects.select_for_update().filter(action_id=action_id, api_key=caller.key).first()
        if action is None:
            raise NotFound("No action with that id is waiting for this key; call again without action_id.")
        if action.state != ActionState.PENDING:
            raise Conflict(f"That action was {action.state} already: an action id works once.")
        if action.expires_at <= now:
            raise Conflict("That action id has expired; call again without action_id for a new one.")
        same_tenant = action.tenant_id == (call.tenant.pk if call.tenant is not None else None)
        if action.tool != call.tool.name or action.arguments_digest != _digest(call) or not same_tenant:
            raise Conflict(
                f"That action id was given for another call ({action.summary}); nothing was done. "
                "Send the same tool and arguments with it, or call again without action_id."
            )
        action.state = ActionState.CONFIRMED if confirm else ActionState.CANCELLED
        action.decided_at = now
        action.save(update_fields=["state", "decided_at"])
    return action

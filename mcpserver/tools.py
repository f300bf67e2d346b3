"""The chat's tool registry (chat.tools.REGISTRY) as MCP tools: the same names, descriptions and
argument schemas as the assistant's models see, with the registry's own annotations.

A tool that confirms first (`Tool.asks_first`: destructive or paid) takes one more, optional argument, `action_id`: its
first call answers what it would do and an id; the call with that id (and the same arguments) acts.
A staff key's tools take `tenant`, like the staff chat's. A read-scoped key is shown only the tools
that only look.
"""

from typing import Any

from mcp import types
from mcp.types.methods import serialize_server_result
from mcp.types.version import LATEST_HANDSHAKE_VERSION

from chat.tools import REGISTRY, Tool

ACTION_ID = "action_id"
ACTION_ID_SCHEMA = {
    "type": "string",
    "description": "The id the first call answered; call again with it and the same arguments to do it.",
}


def annotations(tool: Tool) -> types.ToolAnnotations:
    return types.ToolAnnotations(
        read_only_hint=tool.read_only, destructive_hint=tool.destructive, idempotent_hint=tool.idempotent
    )


def input_schema(tool: Tool, *, staff: bool) -> dict[str, Any]:
    schema = tool.parameters(staff=staff)
    if tool.asks_first:
        schema = {**schema, "properties": {**schema["properties"], ACTION_ID: ACTION_ID_SCHEMA}}
    return schema


def visible(tool: Tool, *, read_only: bool) -> bool:
    """Whether a key sees (and may call) the tool: a read-scoped key, only the ones that only look."""
    return tool.read_only or not read_only


def mcp_tools(*, staff: bool, read_only: bool) -> list[types.Tool]:
    """The tools a caller sees in tools/list."""
    return [
        types.Tool(
            name=tool.name,
            description=tool.description,
            input_schema=input_schema(tool, staff=staff),
            annotations=annotations(tool),
        )
        for tool in REGISTRY.values()
        if visible(tool, read_only=read_only)
    ]


def tools_list_answer(*, staff: bool, read_only: bool, version: str = LATEST_HANDSHAKE_VERSION) -> dict[str, Any]:
    """The tools/list result as the wire carries it at protocol `version` (bench/mcp_tools.py)."""
    result = types.ListToolsResult(tools=mcp_tools(staff=staff, read_only=read_only))
    return serialize_server_result(
        "tools/list", version, result.model_dump(by_alias=True, mode="json", exclude_none=True)
    )


def annotations_markdown() -> str:
    """The annotations table of docs/mcp.md (a test keeps the two the same)."""

    def said(flag: bool) -> str:
        return "true" if flag else "false"

    lines = [
        "| tool | readOnlyHint | destructiveHint | idempotentHint | confirms first | read key |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tool in REGISTRY.values():
        confirms = "yes (`action_id`)" if tool.asks_first else ""
        read_key = "listed" if visible(tool, read_only=True) else "hidden, refused"
        lines.append(
            f"| `{tool.name}` | {said(tool.read_only)} | {said(tool.destructive)} | {said(tool.idempotent)} "
            f"| {confirms} | {read_key} |"
        )
    return "\n".join(lines) + "\n"

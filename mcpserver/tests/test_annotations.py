"""Every tool says what it does to the platform, explicitly and consistently, and the MCP listing
carries exactly that."""

import dataclasses
import re
from pathlib import Path

from django.conf import settings

from chat.tools import REGISTRY, Tool
from mcpserver.tools import ACTION_ID, annotations_markdown, mcp_tools

# The tools that only look: listings, statuses, costs, and the help.
READ_ONLY = {"list_sites", "site_status", "list_env_vars", "domain_status", "tenant_costs", "help"}
# The tools that may remove or overwrite something (the others only add or only look).
DESTRUCTIVE = {"delete_site", "suspend_site", "remove_domain", "set_env_var", "unset_env_var", "set_budget"}
HINTS = ("read_only", "destructive", "idempotent")


def test_the_tool_dataclass_has_no_default_for_any_hint():
    fields = {field.name: field for field in dataclasses.fields(Tool)}
    for hint in HINTS:
        assert fields[hint].default is dataclasses.MISSING, f"{hint} must be said by every tool"
        assert fields[hint].default_factory is dataclasses.MISSING


def test_every_tool_says_each_hint_as_a_boolean():
    for tool in REGISTRY.values():
        for hint in HINTS:
            assert isinstance(getattr(tool, hint), bool), (tool.name, hint)


def test_the_hints_are_consistent_with_what_the_tools_do():
    assert {name for name, tool in REGISTRY.items() if tool.read_only} == READ_ONLY
    assert {name for name, tool in REGISTRY.items() if tool.destructive} == DESTRUCTIVE
    assert {name for name, tool in REGISTRY.items() if tool.paid} == {"create_site"}
    for tool in REGISTRY.values():
        if tool.read_only:
            # Looking changes nothing, so doing it again changes nothing more, and nothing waits for a yes.
            assert not tool.destructive and tool.idempotent and not tool.confirm, tool.name
        if tool.confirm:
            # What asks for confirmation destroys: never a read, never a mere addition.
            assert tool.destructive and not tool.read_only, tool.name
        # Over MCP, everything destructive or paid confirms first, and nothing else does.
        assert tool.asks_first == (tool.destructive or tool.paid), tool.name
        if tool.paid:
            assert not tool.read_only, tool.name
        if tool.name.startswith(("delete_", "remove_", "unset_", "suspend_")):
            assert tool.destructive, tool.name


def test_the_listing_carries_the_registry_hints_and_the_confirmation_argument():
    listed = {tool.name: tool for tool in mcp_tools(staff=False, read_only=False)}
    assert set(listed) == set(REGISTRY)
    for name, tool in REGISTRY.items():
        hints = listed[name].annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
            tool.read_only,
            tool.destructive,
            tool.idempotent,
        )
        dumped = hints.model_dump(by_alias=True, exclude_none=True)
        assert set(dumped) == {"readOnlyHint", "destructiveHint", "idempotentHint"}
        schema = listed[name].input_schema
        declared = tool.parameters(staff=False)  # what the chat's models see
        assert {key: value for key, value in schema["properties"].items() if key != ACTION_ID} == declared["properties"]
        assert schema["required"] == declared["required"]
        assert (ACTION_ID in schema["properties"]) == tool.asks_first
        assert ACTION_ID not in schema["required"]


def test_a_read_key_is_listed_only_the_tools_that_look_and_staff_tools_take_a_tenant():
    assert {tool.name for tool in mcp_tools(staff=False, read_only=True)} == READ_ONLY
    staff = {tool.name: tool.input_schema for tool in mcp_tools(staff=True, read_only=False)}
    assert "tenant" in staff["delete_site"]["properties"] and staff["delete_site"]["required"][0] == "tenant"
    assert "tenant" not in staff["tenant_costs"]["required"]  # across tenants when none is named


def test_docs_mcp_md_shows_the_annotations_as_the_registry_has_them():
    text = (Path(settings.BASE_DIR) / "docs" / "mcp.md").read_text()
    table = re.search(r"<!-- annotations:start -->\n(.*)<!-- annotations:end -->", text, re.DOTALL)
    assert table is not None
    assert table.group(1) == annotations_markdown(), "paste mcpserver.tools.annotations_markdown() into docs/mcp.md"

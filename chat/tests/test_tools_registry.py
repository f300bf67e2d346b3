"""One registry: the API documentation, the models' declarations and docs/chat.md agree with it."""

import json
import re
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from chat.management.commands.chat import tools_markdown
from chat.tools import REGISTRY, declarations

FIXED = {
    "list_sites": ["status"],
    "site_status": ["site"],
    "create_site": ["site", "title"],
    "delete_site": ["site"],
    "suspend_site": ["site"],
    "resume_site": ["site"],
    "set_env_var": ["site", "key", "value", "sensitive"],
    "unset_env_var": ["site", "key"],
    "list_env_vars": ["site"],
    "purge_cache": ["site"],
    "add_domain": ["site", "domain"],
    "remove_domain": ["domain"],
    "domain_status": ["domain"],
    "tenant_costs": ["period", "start", "end", "group_by"],
    "set_budget": ["amount", "site"],
    "help": [],
}
# Staff may call these without naming a tenant: they then answer across tenants.
ACROSS_TENANTS = {"tenant_costs"}


def test_tool_names_and_arguments_are_the_fixed_ones():
    members = {d["name"]: list(d["parameters"]["properties"]) for d in declarations(staff=False)}
    assert members == FIXED
    staff = {d["name"]: d["parameters"] for d in declarations(staff=True)}
    for name, schema in staff.items():
        expected = FIXED[name] + (["tenant"] if name != "help" else [])
        assert sorted(schema["properties"]) == sorted(expected)
        if name in ACROSS_TENANTS:
            assert "tenant" not in schema["required"]
        elif name != "help":
            assert schema["required"][0] == "tenant"
    assert {name for name, tool in REGISTRY.items() if tool.confirm} == {"delete_site", "suspend_site", "remove_domain"}
    assert {name for name, tool in REGISTRY.items() if tool.run_across is not None} == ACROSS_TENANTS


def test_the_cost_tools_require_what_they_cannot_do_without():
    members = {d["name"]: d["parameters"] for d in declarations(staff=False)}
    assert members["tenant_costs"]["required"] == []  # the period defaults to this month
    assert members["set_budget"]["required"] == ["amount"]
    assert members["set_budget"]["properties"]["amount"]["type"] == "number"
    staff = {d["name"]: d["parameters"] for d in declarations(staff=True)}
    assert staff["set_budget"]["required"] == ["tenant", "amount"]  # a budget is always some tenant's


def test_docs_chat_md_lists_the_tools_as_the_registry_has_them():
    text = (Path(settings.BASE_DIR) / "docs" / "chat.md").read_text()
    table = re.search(r"<!-- tools:start -->\n(.*)<!-- tools:end -->", text, re.DOTALL)
    assert table is not None
    assert table.group(1) == tools_markdown(staff=False), "run `manage.py chat tools --markdown` into docs/chat.md"


def test_the_tools_command_prints_the_declarations():
    out = StringIO()
    call_command("chat", "tools", "--staff", stdout=out)
    assert json.loads(out.getvalue())[0]["parameters"]["required"] == ["tenant"]

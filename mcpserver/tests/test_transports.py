"""The same scenarios over stdio (`manage.py mcp`) and streamable HTTP (`/mcp`), through the SDK's own
client: the tools as the chat has them, a read, a deletion through its confirmation, a read key,
and another tenant named. The scenarios beyond those (a paid tool's confirmation, the chat's
refusals, elicitation) run over HTTP only: each stdio test starts a process, and the suite's time
is counted."""

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitResult

from chat.tests.conftest import site_status
from chat.tools import REGISTRY
from mcpserver.models import McpAction
from mcpserver.tests.conftest import host_for, in_thread, run, work
from mcpserver.tests.test_annotations import READ_ONLY
from sites.tests.factories import requested_site
from tenants import services
from tenants.audit import Actor
from tenants.models import ApiKey, ApiKeyScope, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def ready_site(tenant: Any, name: str) -> None:
    requested_site(tenant, name)
    work(tenant)
    assert site_status(tenant, name) == "ready"


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def test_lists_the_chats_tools_and_reads_the_sites(acme, key_for, connect):
    ready_site(acme, "blog")
    key = key_for(acme)

    async def scenario() -> tuple[Any, CallToolResult, CallToolResult]:
        async with connect(key, host_for(acme)) as client:
            listed = await client.list_tools()
            sites = await client.call_tool("list_sites", {})
            one = await client.call_tool("site_status", {"site": "Blog "})
            return listed, sites, one

    listed, sites, one = run(scenario)
    assert [tool.name for tool in listed.tools] == list(REGISTRY)
    delete = next(tool for tool in listed.tools if tool.name == "delete_site")
    assert delete.annotations is not None and delete.annotations.destructive_hint is True
    assert "action_id" in delete.input_schema["properties"] and delete.input_schema["required"] == ["site"]
    assert not sites.is_error
    assert "blog (ready)" in text_of(sites)
    assert sites.structured_content["sites"][0]["name"] == "blog"
    assert not one.is_error and one.structured_content["status"] == "ready"


def test_a_deletion_waits_for_its_action_id_which_works_once_for_that_call_only(acme, key_for, connect):
    ready_site(acme, "blog")
    ready_site(acme, "shop")
    key = key_for(acme)

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with connect(key, host_for(acme)) as client:
            seen["first"] = first = await client.call_tool("delete_site", {"site": "blog"})
            action_id = first.structured_content["action_id"]
            seen["blog_before"] = await in_thread(site_status, acme, "blog")
            seen["other"] = await client.call_tool("delete_site", {"site": "shop", "action_id": action_id})
            seen["suspend"] = await client.call_tool("suspend_site", {"site": "blog", "action_id": action_id})
            seen["confirmed"] = await client.call_tool("delete_site", {"site": "blog", "action_id": action_id})
            await in_thread(work, acme)
            seen["reused"] = await client.call_tool("delete_site", {"site": "shop", "action_id": action_id})
        return seen

    seen = run(scenario)
    first = seen["first"]
    assert not first.is_error
    assert first.structured_content["confirmation_required"] is True
    action_id = first.structured_content["action_id"]
    assert action_id in text_of(first) and "Delete the site “blog”" in text_of(first)
    assert seen["blog_before"] == "ready"  # nothing done before the confirming call
    for misuse in (seen["other"], seen["suspend"]):
        assert misuse.is_error and "another call" in text_of(misuse)
    confirmed = seen["confirmed"]
    assert not confirmed.is_error, text_of(confirmed)
    assert confirmed.structured_content["operation"]["kind"] == "delete"
    assert seen["reused"].is_error and "works once" in text_of(seen["reused"])
    assert site_status(acme, "blog") is None and site_status(acme, "shop") == "ready"
    assert McpAction.objects.get(action_id=action_id).state == "confirmed"
    deleted = AuditEvent.objects.get(action="site.delete", target="blog")
    assert deleted.actor_label.startswith("mcp, api key")


def test_a_paid_tool_asks_first_too_and_says_what_it_would_make(acme, key_for, http_client):
    key = key_for(acme)

    async def scenario() -> tuple[CallToolResult, str | None, CallToolResult]:
        async with http_client(key, host_for(acme)) as client:
            first = await client.call_tool("create_site", {"site": "shop", "title": "Our shop"})
            before = await in_thread(site_status, acme, "shop")
            action_id = first.structured_content["action_id"]
            made = await client.call_tool("create_site", {"site": "shop", "title": "Our shop", "action_id": action_id})
            return first, before, made

    first, before, made = run(scenario)
    assert first.structured_content["confirmation_required"] is True
    assert "Create the site “shop”, titled “Our shop”? It is billed from now on." in text_of(first)
    assert before is None  # nothing made before the confirming call
    assert not made.is_error, text_of(made)
    assert site_status(acme, "shop") is not None


def test_a_read_key_sees_only_the_tools_that_look_and_is_refused_the_others_by_name(acme, key_for, connect):
    ready_site(acme, "blog")
    key = key_for(acme, scope=ApiKeyScope.READ)

    async def scenario() -> tuple[Any, CallToolResult, CallToolResult, CallToolResult]:
        async with connect(key, host_for(acme)) as client:
            listed = await client.list_tools()
            sites = await client.call_tool("list_sites", {})
            delete = await client.call_tool("delete_site", {"site": "blog"})
            create = await client.call_tool("create_site", {"site": "new", "title": "New"})
            return listed, sites, delete, create

    listed, sites, delete, create = run(scenario)
    assert {tool.name for tool in listed.tools} == READ_ONLY
    assert not sites.is_error
    for refused in (delete, create):
        assert refused.is_error and "read-only" in text_of(refused)
    assert site_status(acme, "blog") == "ready" and site_status(acme, "new") is None
    assert not McpAction.objects.exists()  # refused before any confirmation was even offered


def test_a_member_naming_another_tenant_is_refused_as_in_the_chat(acme, globex, key_for, connect):
    ready_site(acme, "blog")
    requested_site(globex, "secret")
    key = key_for(acme)

    async def scenario() -> tuple[CallToolResult, CallToolResult, CallToolResult]:
        async with connect(key, host_for(acme)) as client:
            listed = await client.call_tool("list_sites", {"tenant": "globex"})
            deleted = await client.call_tool("delete_site", {"tenant": "globex", "site": "secret"})
            own = await client.call_tool("list_sites", {"tenant": "acme"})
            return listed, deleted, own

    listed, deleted, own = run(scenario)
    for refused in (listed, deleted):
        assert refused.is_error
        assert "I can only act in your own organisation, acme: nothing was done in “globex”." in text_of(refused)
    assert "secret" not in text_of(listed)
    assert not own.is_error and "blog" in text_of(own)  # naming its own tenant is fine
    assert site_status(globex, "secret") == "requested"
    assert not McpAction.objects.exists()


def test_refusals_of_the_chat_are_error_results(acme, key_for, http_client):
    key = key_for(acme)

    async def scenario() -> list[CallToolResult]:
        async with http_client(key, host_for(acme)) as client:
            return [
                await client.call_tool("no_such_tool", {}),
                await client.call_tool("site_status", {}),
                await client.call_tool("list_sites", {"colour": "red"}),
                await client.call_tool("site_status", {"site": "ghost"}),
            ]

    unknown, missing, extra, absent = run(scenario)
    assert unknown.is_error and "no tool “no_such_tool”" in text_of(unknown)
    assert missing.is_error and "site_status needs site" in text_of(missing)
    assert extra.is_error and "list_sites takes no colour" in text_of(extra)
    assert absent.is_error  # the service's own NotFound, as the chat shows it


class Person:
    """The client's user, answering the confirmations the server asks for (elicitation)."""

    def __init__(self, *, agrees: bool) -> None:
        self.agrees = agrees
        self.asked: list[ElicitRequestFormParams] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params)
        if self.agrees:
            return ElicitResult(action="accept", content={"confirm": True})
        return ElicitResult(action="decline")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_client_that_can_ask_its_user_confirms_within_the_call(acme, key_for, http_client, mode):
    """2026-07-28 (auto): an input_required result and a retry; the handshake era (legacy): an
    elicitation request during the call. Either way one call, and it acts only on a yes."""
    ready_site(acme, "blog")
    ready_site(acme, "shop")
    key = key_for(acme)
    yes, no = Person(agrees=True), Person(agrees=False)

    async def scenario() -> tuple[CallToolResult, CallToolResult, str]:
        async with http_client(key, host_for(acme), mode=mode, elicitation_callback=no) as client:
            declined = await client.call_tool("delete_site", {"site": "shop"})
        async with http_client(key, host_for(acme), mode=mode, elicitation_callback=yes) as client:
            accepted = await client.call_tool("delete_site", {"site": "blog"})
            era = client.protocol_version
        return declined, accepted, era

    declined, accepted, era = run(scenario)
    assert (era == "2026-07-28") == (mode == "auto")
    assert [asked.message for asked in no.asked] == [
        "Delete the site “shop” and everything in it (files, database, uploads)?"
    ]
    assert declined.structured_content["cancelled"] is True and "nothing was done" in text_of(declined)
    assert len(yes.asked) == 1
    assert not accepted.is_error, text_of(accepted)
    assert accepted.structured_content["operation"]["kind"] == "delete"
    work(acme)
    assert site_status(acme, "blog") is None and site_status(acme, "shop") == "ready"
    assert sorted(McpAction.objects.values_list("state", flat=True)) == ["cancelled", "confirmed"]


def test_a_key_revoked_during_a_session_is_refused_at_its_next_call(acme, key_for, connect):
    key = key_for(acme)

    def revoke() -> None:  # as the portal and the staff console do
        services.api_key_revoke(
            actor=Actor.system("tests"), key=ApiKey.objects.get(prefix="_".join(key.split("_")[:2]))
        )

    async def scenario() -> tuple[CallToolResult, Exception | CallToolResult]:
        async with connect(key, host_for(acme)) as client:
            before = await client.call_tool("list_sites", {})
            await in_thread(revoke)
            try:
                after: Exception | CallToolResult = await client.call_tool("list_sites", {})
            except Exception as exc:  # noqa: BLE001 - HTTP answers 401 to the request itself
                after = exc
            return before, after

    before, after = run(scenario)
    assert not before.is_error
    if isinstance(after, CallToolResult):  # stdio: the process's key, checked again at every call
        assert after.is_error and "revoked" in text_of(after)
    else:  # HTTP: the request itself is answered 401 (test_http), which the SDK raises as an error
        assert isinstance(after, MCPError)

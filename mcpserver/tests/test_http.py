"""`/mcp` over HTTP: our Bearer authentication and the host's tenant, before the SDK sees a request;
staff mode on the public host; a session stays with the key that opened it."""

from typing import Any

import httpx2
import pytest
from django.conf import settings
from mcp.types import CallToolResult

from chat.tests.conftest import site_status
from mcpserver.tests.conftest import host_for, run
from mcpserver.tests.test_transports import ready_site, text_of
from tenants import services
from tenants.audit import Actor
from tenants.models import ApiKey, ApiKeyScope, AuditEvent, TenantStatus

pytestmark = pytest.mark.django_db(transaction=True)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
ACCEPT = "application/json, text/event-stream"


def post(base: str, host: str, body: dict[str, Any], key: str | None = None, **headers: str) -> httpx2.Response:
    port = base.rsplit(":", 1)[1]
    sent = {"Host": f"{host}:{port}", "Accept": ACCEPT, "Content-Type": "application/json", **headers}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    return httpx2.post(f"{base}/mcp", json=body, headers=sent, timeout=30)


def test_no_key_or_a_bad_one_is_401_and_reaches_nothing(acme, key_for, mcp_http):
    key = key_for(acme)
    missing = post(mcp_http, acme.host, INITIALIZE)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
    assert post(mcp_http, acme.host, INITIALIZE, key="aip_nope").status_code == 401
    assert post(mcp_http, acme.host, INITIALIZE, key=key[:-1] + ("x" if key[-1] != "x" else "y")).status_code == 401
    ApiKey.objects.filter(prefix=key[:12]).update(revoked_at="2026-01-01T00:00:00Z")
    revoked = post(mcp_http, acme.host, INITIALIZE, key=key)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_a_key_works_only_on_its_own_tenants_host(acme, globex, key_for, mcp_http):
    acme_key, staff_key = key_for(acme), key_for(None)
    assert post(mcp_http, acme.host, INITIALIZE, key=acme_key).status_code == 200
    other = post(mcp_http, globex.host, INITIALIZE, key=acme_key)
    assert other.status_code == 403 and other.json()["detail"] == "This API key does not belong to globex."
    public = post(mcp_http, settings.PLATFORM_DOMAIN, INITIALIZE, key=acme_key)
    assert public.status_code == 403 and acme.host in public.json()["detail"]
    assert post(mcp_http, acme.host, INITIALIZE, key=staff_key).status_code == 403
    assert post(mcp_http, f"nobody.{settings.PLATFORM_DOMAIN}", INITIALIZE, key=acme_key).status_code == 404
    assert post(mcp_http, settings.PLATFORM_DOMAIN, INITIALIZE, key=staff_key).status_code == 200


def test_a_suspended_tenant_or_a_departed_creator_is_refused(acme, key_for, add_member, mcp_http):
    member = add_member(acme, role="admin")
    _, departed = services.api_key_create(actor=Actor.of_user(member), tenant=acme, name="theirs")
    acme.memberships.filter(user=member).delete()
    gone = post(mcp_http, acme.host, INITIALIZE, key=departed)
    assert gone.status_code == 403 and "no longer a member" in gone.json()["detail"]
    key = key_for(acme)
    type(acme).objects.filter(pk=acme.pk).update(status=TenantStatus.SUSPENDED, suspended_reason="unpaid")
    suspended = post(mcp_http, acme.host, INITIALIZE, key=key)
    assert suspended.status_code == 403 and "suspended" in suspended.json()["detail"]


def test_a_session_stays_with_the_key_that_opened_it(acme, key_for, mcp_http):
    first, second = key_for(acme), key_for(acme, scope=ApiKeyScope.READ)
    opened = post(mcp_http, acme.host, INITIALIZE, key=first)
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    assert post(mcp_http, acme.host, listing, key=second, **headers).status_code == 404
    assert post(mcp_http, acme.host, listing, key=first, **headers).status_code == 200


def test_staff_name_the_tenant_on_the_public_host_and_are_audited(acme, key_for, http_client):
    ready_site(acme, "blog")
    staff_key = key_for(None)

    async def scenario() -> tuple[Any, CallToolResult, CallToolResult, CallToolResult, CallToolResult]:
        async with http_client(staff_key, host_for(None)) as client:
            listed = await client.list_tools()
            unnamed = await client.call_tool("list_sites", {})
            named = await client.call_tool("list_sites", {"tenant": "acme"})
            nobody = await client.call_tool("list_sites", {"tenant": "ghost"})
            across = await client.call_tool("tenant_costs", {})
            return listed, unnamed, named, nobody, across

    listed, unnamed, named, nobody, across = run(scenario)
    schemas = {tool.name: tool.input_schema for tool in listed.tools}
    assert schemas["list_sites"]["required"] == ["tenant"]
    assert unnamed.is_error and "list_sites needs tenant" in text_of(unnamed)
    assert not named.is_error and "blog (ready)" in text_of(named)
    assert nobody.is_error and "There is no organisation “ghost”." in text_of(nobody)
    assert not across.is_error and "tenants" in across.structured_content
    audited = AuditEvent.objects.get(action="mcp.list_sites")
    assert audited.tenant_slug == "acme" and audited.actor_label.startswith("staff mcp: ")


def test_a_staff_deletion_names_the_tenant_and_confirms_like_any_other(acme, key_for, http_client):
    ready_site(acme, "blog")
    staff_key = key_for(None)

    async def scenario() -> tuple[CallToolResult, CallToolResult]:
        async with http_client(staff_key, host_for(None)) as client:
            asked = await client.call_tool("delete_site", {"tenant": "acme", "site": "blog"})
            action_id = asked.structured_content["action_id"]
            done = await client.call_tool("delete_site", {"tenant": "acme", "site": "blog", "action_id": action_id})
            return asked, done

    asked, done = run(scenario)
    assert "Delete the site “blog” of acme" in text_of(asked)
    assert not done.is_error, text_of(done)
    assert site_status(acme, "blog") == "deleting"
    assert AuditEvent.objects.filter(action="mcp.delete_site", tenant_slug="acme").exists()

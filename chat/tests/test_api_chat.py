"""The chat API, as an integrator drives it: the same turn loop as the socket, in one response."""

import pytest

from chat.tests.conftest import site_status, work
from sites.tests.factories import requested_site
from tenants.models import Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(make_tenant, memory_sites):
    return make_tenant(slug="acme")


@pytest.fixture
def api(acme, client_for, api_key_for):
    return client_for(acme, key=api_key_for(acme, Role.ADMIN))


def test_a_conversation_over_the_api_with_a_confirmation(acme, api):
    requested_site(acme, "crumbs")
    work(acme)
    first = api.post("/api/v1/chat/messages", {"text": "how is crumbs doing?"}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert set(body) == {"conversation", "reply", "tool_calls", "pending_confirmation"}
    assert body["tool_calls"][0]["name"] == "site_status" and body["tool_calls"][0]["status"] == "succeeded"
    assert "ready" in body["reply"]
    conversation = body["conversation"]

    asked = api.post("/api/v1/chat/messages", {"conversation": conversation, "text": "delete it"}, format="json").json()
    pending = asked["pending_confirmation"]
    assert pending and "crumbs" in pending["summary"] and asked["tool_calls"] == []
    wrong = api.post("/api/v1/chat/confirm", {"conversation": conversation, "action_id": "nope"}, format="json")
    assert wrong.status_code == 404 and wrong["Content-Type"] == "application/problem+json"
    cancelled = api.post(
        "/api/v1/chat/cancel", {"conversation": conversation, "action_id": pending["action_id"]}, format="json"
    )
    assert cancelled.status_code == 200 and cancelled.json()["tool_calls"] == []
    again = api.post(
        "/api/v1/chat/confirm", {"conversation": conversation, "action_id": pending["action_id"]}, format="json"
    )
    assert again.status_code == 409
    assert site_status(acme, "crumbs") == "ready"

    listed = api.get("/api/v1/chat/conversations/").json()
    assert [c["id"] for c in listed] == [conversation]
    detail = api.get(f"/api/v1/chat/conversations/{conversation}/").json()
    roles = [m["role"] for m in detail["messages"]]
    assert roles[0] == "user" and "tool" in roles and roles.count("user") == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 5000}, "text"),
        ({"text": "hi", "conversation": 0}, "conversation"),
    ],
)
def test_bad_messages_are_refused_with_field_errors_and_start_nothing(api, body, field):
    response = api.post("/api/v1/chat/messages", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert api.get("/api/v1/chat/conversations/").json() == []


def test_a_conversation_is_its_owners_alone(acme, api, client_for, add_member, api_key_for):
    mine = api.post("/api/v1/chat/messages", {"text": "list sites"}, format="json").json()["conversation"]
    colleague = add_member(acme, Role.ADMIN)
    theirs = client_for(acme, user=colleague)
    assert theirs.get(f"/api/v1/chat/conversations/{mine}/").status_code == 404
    reply = theirs.post("/api/v1/chat/messages", {"conversation": mine, "text": "list sites"}, format="json")
    assert reply.status_code == 404


def test_the_tools_are_documented_from_the_registry(api):
    from chat.tools import REGISTRY

    tools = api.get("/api/v1/chat/tools/").json()
    assert [tool["name"] for tool in tools] == list(REGISTRY)
    assert all("tenant" not in tool["parameters"]["properties"] for tool in tools)
    delete = next(tool for tool in tools if tool["name"] == "delete_site")
    assert delete["confirm"] is True and delete["parameters"]["required"] == ["site"]


def test_the_key_of_a_removed_member_stops_chatting(acme, client_for, add_member, api_key_for):
    from tenants import services
    from tenants.audit import Actor

    admin = add_member(acme, Role.ADMIN)
    _, raw = services.api_key_create(actor=Actor.of_user(admin), tenant=acme, name="ci", role=Role.ADMIN)
    key_client = client_for(acme, key=raw)
    assert key_client.post("/api/v1/chat/messages", {"text": "list sites"}, format="json").status_code == 200
    acme.memberships.filter(user=admin).delete()
    refused = key_client.post("/api/v1/chat/messages", {"text": "create a site called x1 titled X"}, format="json")
    assert refused.status_code in (401, 403, 404)
    assert site_status(acme, "x1") is None

"""/ws/chat/ through the real ASGI application: two tabs on one conversation, streaming, resuming
after a dropped connection without losing anything, and refusals as close codes."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings

from aipress.asgi import application
from chat.messages import ChatScope, entered
from chat.models import Message
from chat.tests.conftest import Chatter
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(client_for: Any, tenant: Any, user: Any) -> str:
    return client_for(tenant, user=user).cookies[settings.SESSION_COOKIE_NAME].value


async def _open(host: str, cookie: str, query: str = "") -> WebsocketCommunicator:
    headers = [
        (b"host", host.encode()),
        (b"origin", f"http://{host}".encode()),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
    ]
    socket = WebsocketCommunicator(application, f"/ws/chat/{query}", headers=headers)
    connected, _ = await socket.connect(timeout=10)
    assert connected
    return socket


async def _until_turn_ends(socket: WebsocketCommunicator) -> list[dict[str, Any]]:
    """Everything the socket receives up to the end of a turn."""
    seen = []
    while True:
        event = await socket.receive_json_from(timeout=20)
        seen.append(event)
        if event.get("type") == "turn" and event.get("state") == "ended":
            return seen


def _stored(tenant: Any, conversation: int) -> dict[int, int]:
    with entered(ChatScope(tenant=tenant)):
        return dict(Message.objects.filter(conversation_id=conversation).values_list("id", "seq"))


def _latest(events: list[dict[str, Any]], into: dict[int, int]) -> dict[int, int]:
    for event in events:
        if event["type"] == "message":
            message = event["message"]
            into[message["id"]] = max(into.get(message["id"], 0), message["seq"])
    return into


def test_two_tabs_see_everything_and_a_dropped_tab_resumes_without_losing_anything(
    make_tenant, memory_sites, client_for
):
    acme = make_tenant(slug="acme")
    owner = acme.memberships.get(role=Role.OWNER).user
    cookie = _cookie(client_for, acme, owner)

    async def scenario() -> None:
        first = await _open(acme.host, cookie)
        await first.send_json_to({"type": "message", "text": "help"})
        events = await _until_turn_ends(first)
        kinds = [event["type"] for event in events]
        assert kinds[0] == "conversation"
        conversation = events[0]["id"]
        # The reply streamed in pieces before it was stored whole.
        deltas = [i for i, event in enumerate(events) if event["type"] == "delta"]
        stored_reply = next(
            i for i, e in enumerate(events) if e["type"] == "message" and e["message"]["role"] == "assistant"
        )
        assert len(deltas) > 1 and max(deltas) < stored_reply
        assert "".join(events[i]["text"] for i in deltas).strip() == events[stored_reply]["message"]["text"]
        first_seen = _latest(events, {})

        second = await _open(acme.host, cookie, f"?conversation={conversation}&after=0")
        replay = [await second.receive_json_from(timeout=10)]
        while len(_latest(replay, {})) < len(first_seen):
            replay.append(await second.receive_json_from(timeout=10))
        assert _latest(replay, {}) == first_seen

        await first.send_json_to({"type": "message", "text": "list my sites"})
        on_first = await _until_turn_ends(first)
        on_second = await _until_turn_ends(second)
        assert _latest(on_first, {}) == _latest(on_second, {})
        seen_by_second = _latest(replay + on_second, {})
        last_seq = max(seen_by_second.values())

        # The second tab drops; the conversation goes on without it.
        await second.disconnect()
        await first.send_json_to({"type": "message", "text": "list sites that failed"})
        await _until_turn_ends(first)
        await first.send_json_to({"type": "message", "text": "what can you do?"})
        await _until_turn_ends(first)

        resumed = await _open(acme.host, cookie, f"?conversation={conversation}&after={last_seq}")
        head = await resumed.receive_json_from(timeout=10)
        assert head["type"] == "conversation"
        stored = await _stored_async(acme, conversation)
        missed = {mid: seq for mid, seq in stored.items() if seq > last_seq}
        caught_up: list[dict[str, Any]] = []
        while len(_latest(caught_up, {})) < len(missed):
            caught_up.append(await resumed.receive_json_from(timeout=10))
        assert _latest(caught_up, {}) == missed
        assert _latest(replay + on_second + caught_up, {}) == stored  # nothing lost, every message at its newest
        assert await resumed.receive_nothing(timeout=0.3)
        await resumed.disconnect()
        await first.disconnect()

    async_to_sync(scenario)()


async def _stored_async(tenant: Any, conversation: int) -> dict[int, int]:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(_stored)(tenant, conversation)


async def _close_code(host: str, cookie: str, query: str = "") -> int:
    socket = await _open(host, cookie, query)
    message = await socket.receive_output(timeout=10)
    assert message["type"] == "websocket.close"
    await socket.disconnect()  # the consumer ends, as it does when a browser goes away
    return int(message["code"])


def test_another_persons_or_tenants_conversation_is_refused(make_tenant, memory_sites, client_for, add_member):
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    owner = acme.memberships.get(role=Role.OWNER).user
    colleague = add_member(acme, Role.ADMIN)
    theirs = Chatter(scope=ChatScope(tenant=acme), actor=_actor(colleague))
    theirs.say("list sites")
    outsider = globex.memberships.get(role=Role.OWNER).user
    owner_cookie = _cookie(client_for, acme, owner)
    outsider_cookie = _cookie(client_for, globex, outsider)

    async def scenario() -> None:
        # A colleague's conversation in the same tenant is theirs alone.
        assert await _close_code(acme.host, owner_cookie, f"?conversation={theirs.conversation}") == 4404
        # Someone of another tenant, on this tenant's host.
        assert await _close_code(acme.host, outsider_cookie) == 4404
        # A member is not staff on the public host.
        assert await _close_code(settings.PLATFORM_DOMAIN, owner_cookie) == 4404

    async_to_sync(scenario)()


def test_staff_chat_on_the_public_host(make_tenant, memory_sites, client_for):
    acme = make_tenant(slug="acme")
    staff = UserFactory(is_staff=True)
    cookie = _cookie(client_for, None, staff)

    async def scenario() -> None:
        socket = await _open(settings.PLATFORM_DOMAIN, cookie)
        await socket.send_json_to({"type": "message", "text": "list the sites of acme"})
        events = await _until_turn_ends(socket)
        tools = [e["message"] for e in events if e["type"] == "message" and e["message"]["role"] == "tool"]
        assert tools[-1]["data"]["status"] == "succeeded"
        assert tools[-1]["data"]["arguments"] == {"tenant": acme.slug}
        await socket.disconnect()

    async_to_sync(scenario)()


def _actor(user: Any) -> Any:
    from tenants.audit import Actor

    return Actor.of_user(user)

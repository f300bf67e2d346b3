"""`/ws/chat/`: the live chat, on a tenant's host for its members and on the public host for staff.

The client sends {"type": "message", "text"}, {"type": "confirm" | "cancel", "action_id"}; it opens
the socket with `?conversation=ID&after=SEQ` to resume one (everything changed after SEQ is sent
first, then what happens live) or without, and the first message starts a conversation. The server
sends {"type": "conversation", "id", "seq"} once it knows which one, {"type": "message", "message"}
for every message stored or rewritten (a tool call finishing, a step of progress), {"type": "delta",
"turn", "text"} for pieces of the assistant's text as they are written, {"type": "turn", "state"}
around each turn, and {"type": "error", "message", "status"} for a refused request.

A turn runs in a worker thread and as its own task, so this socket keeps relaying the turn's live
events while it runs; every socket on the conversation (two tabs) gets the same events.
"""

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections

from billing.ai_quota import QuotaExhausted
from chat import selectors, services
from chat.access import require_chat_access
from chat.messages import ChatScope, message_payload
from kernel.errors import InvalidInput, ServiceError
from tenants.audit import Actor
from tenants.websocket import CLOSE_FOREIGN_ORIGIN, CLOSE_NOT_MEMBER, CLOSE_UNAUTHENTICATED, host_from_scope

logger = logging.getLogger(__name__)

_STATUS = {"InvalidInput": 400, "NotPermitted": 403, "NotFound": 404, "Conflict": 409, "QuotaExhausted": 429}


def _in_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Database work of a socket, off the event loop; its connection goes back when done."""

    def run() -> Any:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    # Not thread-sensitive: one socket's turn must not wait for every other socket's.
    return sync_to_async(run, thread_sensitive=False)()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class ChatConsumer(AsyncJsonWebsocketConsumer):
    chat: ChatScope
    actor: Actor
    conversation_id: int | None = None
    group: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns: set[asyncio.Task[None]] = set()  # kept: a task nobody references may be collected

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not self.scope.get("origin_is_ours"):
            return await self._refuse(CLOSE_FOREIGN_ORIGIN)
        if user is None or not user.is_authenticated:
            return await self._refuse(CLOSE_UNAUTHENTICATED)
        tenant = self.scope.get("tenant")
        if tenant is None and host_from_scope(self.scope) != settings.PLATFORM_DOMAIN:
            return await self._refuse(CLOSE_NOT_MEMBER)
        self.chat = ChatScope(tenant=tenant)
        self.actor = Actor.of_user(user)
        try:
            await _in_thread(require_chat_access, scope=self.chat, actor=self.actor)
        except ServiceError:
            return await self._refuse(CLOSE_NOT_MEMBER)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        wanted = _int((query.get("conversation") or [None])[0])
        after = _int((query.get("after") or [None])[0]) or 0
        if wanted is not None:
            try:
                await _in_thread(selectors.conversation_get, scope=self.chat, actor=self.actor, conversation_id=wanted)
            except ServiceError:
                return await self._refuse(CLOSE_NOT_MEMBER)
        await self.accept()
        if wanted is not None:
            await self._follow(wanted, after)

    async def _follow(self, conversation_id: int, after: int) -> None:
        """Join the conversation's live events, then send what the client missed: joined first, so
        nothing falls between; the client drops what it has twice (by seq)."""
        self.conversation_id = conversation_id
        self.group = self.chat.group(conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        missed = await _in_thread(
            selectors.messages_after, scope=self.chat, actor=self.actor, conversation_id=conversation_id, after=after
        )
        seq = max([after, *(message.seq for message in missed)])
        await self.send_json({"type": "conversation", "id": conversation_id, "seq": seq})
        for message in missed:
            await self.send_json({"type": "message", "message": message_payload(message)})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") not in ("message", "confirm", "cancel"):
            await self.send_json({"type": "error", "status": 400, "message": "Send a message, confirm or cancel."})
            return
        # Its own task: this socket goes on relaying the turn's live events while the turn runs.
        task = asyncio.ensure_future(self._handle(content))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)

    async def _handle(self, content: dict[str, Any]) -> None:
        conversation_id = self.conversation_id
        try:
            if self.conversation_id is None:
                if content["type"] != "message":
                    raise InvalidInput("Start a conversation with a message.", field="type")
                conversation = await _in_thread(services.conversation_start, scope=self.chat, actor=self.actor)
                await self._follow(conversation.pk, 0)
                conversation_id = conversation.pk
            if content["type"] == "message":
                await _in_thread(
                    services.message_send,
                    scope=self.chat,
                    actor=self.actor,
                    text=content.get("text"),
                    conversation_id=conversation_id,
                )
            else:
                await _in_thread(
                    services.action_decide,
                    scope=self.chat,
                    actor=self.actor,
                    conversation_id=conversation_id,
                    action_id=content.get("action_id"),
                    confirm=content["type"] == "confirm",
                )
        except (ServiceError, QuotaExhausted) as exc:
            status = _STATUS.get(type(exc).__name__, 409)
            await self.send_json({"type": "error", "status": status, "message": exc.message})
        except Exception:
            logger.exception("a chat turn failed")
            await self.send_json(
                {"type": "error", "status": 500, "message": "Something went wrong on our side; nothing more was done."}
            )

    async def chat_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

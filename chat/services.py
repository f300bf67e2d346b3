"""Every write to conversations: start one, send a message, confirm or cancel an action.

Each takes the scope (a tenant for its members, none for staff on the public host) and the acting
person, checks that they may chat there, and enters the conversation's schema itself. What the
assistant then does goes through the tools, as that person (chat.turns)."""

from django.conf import settings

from chat.access import chat_user_id, require_chat_access
from chat.messages import ChatScope, entered
from chat.models import Conversation
from chat.turns import TurnResult, run_turn
from kernel.errors import InvalidInput, NotFound
from tenants.audit import Actor


def _own_conversation(conversation_id: int, actor: Actor) -> Conversation:
    conversation = Conversation.objects.filter(pk=conversation_id, user_id=chat_user_id(actor)).first()
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id} here.")
    return conversation


def conversation_start(*, scope: ChatScope, actor: Actor) -> Conversation:
    require_chat_access(scope=scope, actor=actor)
    with entered(scope):
        return Conversation.objects.create(user_id=chat_user_id(actor))


def _valid_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Write a message.", field="text")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise InvalidInput(f"Keep a message under {settings.CHAT_MAX_MESSAGE_CHARS} characters.", field="text")
    if "\x00" in text:
        raise InvalidInput("A message is text, without NUL characters.", field="text")
    return text.strip()


def message_send(*, scope: ChatScope, actor: Actor, text: str, conversation_id: int | None = None) -> TurnResult:
    """The person's message, answered by the assistant (in a new conversation unless one is named)."""
    require_chat_access(scope=scope, actor=actor)
    text = _valid_text(text)
    with entered(scope):
        if conversation_id is None:
            conversation = Conversation.objects.create(user_id=chat_user_id(actor))
        else:
            conversation = _own_conversation(conversation_id, actor)
    return run_turn(scope, conversation.pk, actor, kind="message", payload=text)


def action_decide(*, scope: ChatScope, actor: Actor, conversation_id: int, action_id: str, confirm: bool) -> TurnResult:
    """The person's answer to a confirmation the assistant asked for: run the action, or drop it."""
    require_chat_access(scope=scope, actor=actor)
    if not isinstance(action_id, str) or not action_id:
        raise InvalidInput("Give the action_id of the confirmation.", field="action_id")
    with entered(scope):
        conversation = _own_conversation(conversation_id, actor)
    return run_turn(scope, conversation.pk, actor, kind="confirm" if confirm else "cancel", payload=action_id)

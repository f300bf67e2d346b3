"""Every read of conversations: a person sees their own, in the scope they chat in."""

from chat.access import chat_user_id, require_chat_access
from chat.messages import ChatScope, entered
from chat.models import Conversation, Message
from kernel.errors import NotFound
from tenants.audit import Actor


def conversation_list(*, scope: ChatScope, actor: Actor, limit: int = 50) -> list[Conversation]:
    require_chat_access(scope=scope, actor=actor)
    with entered(scope):
        return list(Conversation.objects.filter(user_id=chat_user_id(actor)).order_by("-updated_at", "-id")[:limit])


def conversation_get(*, scope: ChatScope, actor: Actor, conversation_id: int) -> Conversation:
    require_chat_access(scope=scope, actor=actor)
    with entered(scope):
        conversation = Conversation.objects.filter(pk=conversation_id, user_id=chat_user_id(actor)).first()
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id} here.")
    return conversation


def messages_after(*, scope: ChatScope, actor: Actor, conversation_id: int, after: int = 0) -> list[Message]:
    """What changed in the conversation after change number `after` (0: everything), oldest first."""
    conversation = conversation_get(scope=scope, actor=actor, conversation_id=conversation_id)
    with entered(scope):
        return list(Message.objects.filter(conversation=conversation, seq__gt=after).order_by("seq"))

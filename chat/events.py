"""Live events of a conversation, on the channel layer: every socket open on it receives them."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def conversation_group(schema_name: str, conversation_id: int) -> str:
    # The schema keeps a tenant's conversation 7 apart from staff conversation 7 (public schema).
    return f"chat.{schema_name}.{conversation_id}"


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "chat.event", "event": event})


def publish_now(group: str, event: dict[str, Any]) -> None:
    """For what is not stored (pieces of text as the assistant writes them): sent at once."""
    _send(group, event)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    """For stored changes: sent once they are visible to a client that reloads."""
    transaction.on_commit(lambda: _send(group, event))

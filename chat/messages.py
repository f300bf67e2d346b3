"""Where a conversation lives, and how its messages are written: each change takes the
conversation's next number and reaches its open sockets once stored."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from chat import events
from chat.models import Conversation, Message
from tenants.models import Tenant

PUBLIC_SCHEMA = "public"


@dataclass(frozen=True)
class ChatScope:
    """Where a conversation lives: a tenant's schema for its members, the public schema for staff."""

    tenant: Tenant | None

    @property
    def staff(self) -> bool:
        return self.tenant is None

    @property
    def schema_name(self) -> str:
        return self.tenant.schema_name if self.tenant is not None else PUBLIC_SCHEMA

    def group(self, conversation_id: int) -> str:
        return events.conversation_group(self.schema_name, conversation_id)


@contextmanager
def entered(scope: ChatScope) -> Iterator[None]:
    """The conversation's schema, whatever the caller had active."""
    if scope.tenant is not None:
        with tenant_context(scope.tenant):
            yield
    else:
        with schema_context(PUBLIC_SCHEMA):
            yield


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "data": message.data,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def write_message(
    scope: ChatScope,
    conversation_id: int,
    *,
    role: str = "",
    text: str = "",
    data: dict[str, Any] | None = None,
    message: Message | None = None,
    operation: tuple[int, int] | None = None,
) -> Message:
    """Add a message (or rewrite `message`) under the conversation's next change number, and send it
    to the conversation's sockets once stored. The schema of `scope` is active."""
    with transaction.atomic():
        # One statement takes the next number and locks the conversation until this commits, so
        # changes become visible in the order of their numbers (what resuming relies on).
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Conversation._meta.db_table} SET seq = seq + 1, updated_at = %s WHERE id = %s RETURNING seq",
                [timezone.now(), conversation_id],
            )
            row = cursor.fetchone()
        if row is None:
            raise Conversation.DoesNotExist(f"conversation {conversation_id}")
        seq = int(row[0])
        if message is None:
            message = Message.objects.create(
                conversation_id=conversation_id,
                seq=seq,
                role=role,
                text=text,
                data=data or {},
                operation_id=operation[1] if operation else None,
                operation_tenant_id=operation[0] if operation else None,
            )
        else:
            message.seq = seq
            message.text = text if text else message.text
            message.data = data if data is not None else message.data
            message.save(update_fields=["seq", "text", "data"])
        events.publish_on_commit(scope.group(conversation_id), {"type": "message", "message": message_payload(message)})
    return message

"""Live events for a tenant's members, sent on the channel layer after the transaction commits."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def tenant_events_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}.events"


def publish_tenant_event(tenant_id: int, event: str, payload: dict[str, Any]) -> None:
    """Queue `event` for the tenant's `/ws/events/` sockets once the current transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": "tenant.event", "event": event, "payload": payload}
        async_to_sync(layer.group_send)(tenant_events_group(tenant_id), message)

    transaction.on_commit(send)

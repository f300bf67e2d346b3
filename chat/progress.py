"""Progress of the site operations a conversation started, written into the conversation.

Sites announce every move of an operation (sites.signals.operation_changed) on whichever process made
it: the worker for steps, the web process for the request. Each announcement rewrites the
conversation's progress message, and the end of the operation adds the assistant's last word (the
link to a new site, or why it failed), once, whatever the number of announcements.
"""

from typing import Any

from django.db import transaction
from django_tenants.utils import tenant_context

from chat.messages import ChatScope, entered, write_message
from chat.models import Message, MessageRole
from sites.models import OperationKind, OperationState, SiteOperation
from tenants.models import Tenant

FINISHED = (OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED)

_DONE_WORDS = {
    OperationKind.CREATE: "“{site}” is live: {url}",
    OperationKind.RETRY: "“{site}” is live: {url}",
    OperationKind.RESUME: "“{site}” is back online: {url}",
    OperationKind.SUSPEND: "“{site}” is suspended: visitors see the “suspended” page.",
    OperationKind.DELETE: "“{site}” is deleted.",
    OperationKind.ENV: "The env vars of “{site}” are applied.",
    OperationKind.UPDATE: "“{site}” is updated.",
}


def _last_word(data: dict[str, Any]) -> str:
    if data["state"] == OperationState.SUCCEEDED:
        template = _DONE_WORDS.get(data["kind"], "“{site}”: {kind} finished.")
        return template.format(**data)
    if data["state"] == OperationState.CANCELLED:
        return (
            f"The {data['kind']} of “{data['site']}” was cancelled: {data.get('error') or 'the site is being deleted'}."
        )
    step = f" at step {data['step']}" if data.get("step") else ""
    return f"The {data['kind']} of “{data['site']}” failed{step}: {data.get('error') or 'see the site page'}."


def _update(scope: ChatScope, tenant: Tenant, operation_id: int, payload: dict[str, Any]) -> None:
    """In the schema of `scope`: rewrite the progress messages that follow this operation."""
    messages = Message.objects.filter(operation_id=operation_id, operation_tenant_id=tenant.pk)
    for message in messages:
        with transaction.atomic():
            locked = Message.objects.select_for_update().get(pk=message.pk)
            if locked.data.get("finished"):
                continue  # said already
            data = {**locked.data, **{k: v for k, v in payload.items() if k in _KEPT}}
            finished = data.get("state") in FINISHED
            data["finished"] = finished
            write_message(scope, locked.conversation_id, message=locked, data=data)
            if finished:
                write_message(scope, locked.conversation_id, role=MessageRole.ASSISTANT, text=_last_word(data))


_KEPT = ("state", "step", "step_index", "steps_total", "status", "error")


def follow_operation(*, tenant: Tenant, operation_id: int, payload: dict[str, Any] | None = None) -> None:
    """Bring the conversations that follow the operation up to date: with `payload` (an announcement),
    or from the operation itself (right after the conversation started following it)."""
    if not operation_id:
        return
    if payload is None:
        with tenant_context(tenant):
            operation = SiteOperation.objects.filter(pk=operation_id).first()
            if operation is None:
                return
            payload = {
                "state": operation.state,
                "step": operation.current_step,
                "step_index": operation.step_index,
                "steps_total": operation.steps_total,
                "error": operation.error[:300],
            }
    # Members' conversations live in the tenant's schema; staff conversations in the public one.
    for scope in (ChatScope(tenant=tenant), ChatScope(tenant=None)):
        with entered(scope):
            _update(scope, tenant, operation_id, payload)


def on_operation_changed(sender: type, *, tenant: Tenant, payload: dict[str, Any], **kwargs: Any) -> None:
    follow_operation(tenant=tenant, operation_id=int(payload.get("operation") or 0), payload=payload)

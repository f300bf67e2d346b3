"""Conversations with the assistant. In a tenant's schema for its members; in the public schema for
staff (the chat app is in both SHARED_APPS and TENANT_APPS: the same tables in each).

Every change to a conversation (a message added or updated) takes the next number of the
conversation's sequence: a client that saw up to N asks for what changed after N and misses nothing,
updates of earlier messages (a tool call finishing, a step of progress) included.
"""

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    # A person's own conversation: no database constraint into the public schema (users live there).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    title = models.CharField(max_length=120, blank=True)
    seq = models.BigIntegerField(default=0, help_text="The number of the conversation's last change.")
    # What the turn loop carries from one message to the next: the call it is asking about
    # ("pending"), the site (and tenant) last talked about ("focus"), a suggested correction.
    state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="chat_conversation_user")]

    def __str__(self) -> str:
        return self.title or f"conversation {self.pk}"


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool call"
    PROGRESS = "progress", "Progress"  # of a site operation the conversation started
    NOTICE = "notice", "Notice"  # from the platform: provider down, quota used up


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField(help_text="The conversation's change number when this was last written.")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    text = models.TextField(blank=True)
    # tool: {name, arguments, status, result}; progress: {site, operation, kind, state, step, ...};
    # assistant: {pending_confirmation: {action_id, summary}} while one waits.
    data = models.JSONField(default=dict, blank=True)
    # The site operation a progress message follows, and (staff conversations) its tenant.
    operation_id = models.BigIntegerField(null=True, blank=True)
    operation_tenant_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "seq"], name="chat_message_conversation_seq"),
            models.Index(fields=["operation_id"], name="chat_message_operation"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class ActionState(models.TextChoices):
    PENDING = "pending", "Waiting for confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"


class PendingAction(models.Model):
    """A call that waits for the person's confirmation. Only a `confirm` naming its action_id runs it:
    no message to the assistant can."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="actions")
    action_id = models.CharField(max_length=32, unique=True)
    tool = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict)
    summary = models.CharField(max_length=400)
    state = models.CharField(max_length=16, choices=ActionState.choices, default=ActionState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.tool} ({self.state})"

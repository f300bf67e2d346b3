"""Shapes of the chat API (for validation and the OpenAPI document)."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from chat.models import Conversation, Message


class MessageInSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(required=False, min_value=1, help_text="Omit to start a conversation.")
    text = serializers.CharField(max_length=settings.CHAT_MAX_MESSAGE_CHARS, trim_whitespace=True)


class DecisionInSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(min_value=1)
    action_id = serializers.CharField(max_length=32)


class ToolCallSerializer(serializers.Serializer):
    name = serializers.CharField()
    arguments = serializers.DictField()
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    result = serializers.DictField()


class PendingConfirmationSerializer(serializers.Serializer):
    action_id = serializers.CharField()
    summary = serializers.CharField()


class TurnSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    reply = serializers.CharField(help_text="What the assistant said, in plain words.")
    tool_calls = ToolCallSerializer(many=True)
    pending_confirmation = PendingConfirmationSerializer(allow_null=True)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "seq", "role", "text", "data", "created_at"]


class ConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "seq", "created_at", "updated_at"]


class ConversationDetailSerializer(ConversationSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]

    def get_messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        return MessageSerializer(self.context["messages"], many=True).data  # type: ignore[return-value]  # a list of dicts


class ToolDeclarationSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.DictField(help_text="JSON Schema of the arguments.")
    confirm = serializers.BooleanField(help_text="The call waits for the person's confirmation.")

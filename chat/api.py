"""Thin API views of the chat: the same turn loop as the socket, answered in one response."""

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.ai_quota import QuotaExhausted
from chat import selectors, services
from chat.messages import ChatScope
from chat.serializers import (
    ConversationDetailSerializer,
    ConversationSerializer,
    DecisionInSerializer,
    MessageInSerializer,
    ToolDeclarationSerializer,
    TurnSerializer,
)
from chat.tools import catalogue
from chat.turns import TurnResult
from kernel.api import validated
from tenants.audit import Actor
from tenants.models import Tenant


def scope_of(request: Request) -> ChatScope:
    """A tenant's host or key: its members' chat. The public host: staff's."""
    tenant = getattr(request, "tenant", None)
    return ChatScope(tenant=tenant if isinstance(tenant, Tenant) else None)


def _answered(call: Callable[[], TurnResult]) -> Response:
    """The turn as the API shows it; a used-up quota is a 429 with Retry-After."""
    try:
        result = call()
    except QuotaExhausted as exc:
        raise exceptions.Throttled(wait=exc.retry_after, detail=exc.message) from exc
    return Response(
        {
            "conversation": result.conversation,
            "reply": result.reply,
            "tool_calls": result.tool_calls,
            "pending_confirmation": result.pending_confirmation,
        }
    )


class ChatMessageApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MessageInSerializer,
        responses={200: TurnSerializer},
        summary="Send a message to the assistant; answers with its reply, the tools it called, and any "
        "confirmation it waits for",
    )
    def post(self, request: Request) -> Response:
        data = validated(MessageInSerializer, request)
        return _answered(
            lambda: services.message_send(
                scope=scope_of(request),
                actor=Actor.from_request(request),
                text=data["text"],
                conversation_id=data.get("conversation"),
            )
        )


class _DecisionApi(APIView):
    permission_classes = [IsAuthenticated]
    confirm = True

    def post(self, request: Request) -> Response:
        data = validated(DecisionInSerializer, request)
        return _answered(
            lambda: services.action_decide(
                scope=scope_of(request),
                actor=Actor.from_request(request),
                conversation_id=data["conversation"],
                action_id=data["action_id"],
                confirm=self.confirm,
            )
        )


class ChatConfirmApi(_DecisionApi):
    confirm = True

    @extend_schema(request=DecisionInSerializer, responses={200: TurnSerializer}, summary="Confirm a waiting action")
    def post(self, request: Request) -> Response:
        return super().post(request)


class ChatCancelApi(_DecisionApi):
    confirm = False

    @extend_schema(request=DecisionInSerializer, responses={200: TurnSerializer}, summary="Cancel a waiting action")
    def post(self, request: Request) -> Response:
        return super().post(request)


class ConversationListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ConversationSerializer(many=True), summary="Your conversations, newest first")
    def get(self, request: Request) -> Response:
        found = selectors.conversation_list(scope=scope_of(request), actor=Actor.from_request(request))
        return Response(ConversationSerializer(found, many=True).data)


class ConversationDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ConversationDetailSerializer, summary="One conversation with its messages")
    def get(self, request: Request, conversation_id: int) -> Response:
        scope, actor = scope_of(request), Actor.from_request(request)
        conversation = selectors.conversation_get(scope=scope, actor=actor, conversation_id=conversation_id)
        messages = selectors.messages_after(scope=scope, actor=actor, conversation_id=conversation_id)
        return Response(ConversationDetailSerializer(conversation, context={"messages": messages}).data)


class ChatToolsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ToolDeclarationSerializer(many=True),
        summary="The assistant's tools, as its models see them (staff tools also take `tenant`)",
    )
    def get(self, request: Request) -> Response:
        tools = catalogue(staff=scope_of(request).staff)
        return Response(tools)

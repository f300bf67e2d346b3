from django.urls import path

from chat import api

chat_api_urlpatterns = [
    path("chat/messages", api.ChatMessageApi.as_view(), name="api-chat-messages"),
    path("chat/confirm", api.ChatConfirmApi.as_view(), name="api-chat-confirm"),
    path("chat/cancel", api.ChatCancelApi.as_view(), name="api-chat-cancel"),
    path("chat/tools/", api.ChatToolsApi.as_view(), name="api-chat-tools"),
    path("chat/conversations/", api.ConversationListApi.as_view(), name="api-chat-conversations"),
    path(
        "chat/conversations/<int:conversation_id>/", api.ConversationDetailApi.as_view(), name="api-chat-conversation"
    ),
]

from django.urls import path

from .views import (
    AssistantConversationDetailApi,
    AssistantMessageCreateApi,
    MerchantConversationListApi,
    MerchantConversationMessageCreateApi,
)

urlpatterns = [
    path("assistant/messages", AssistantMessageCreateApi.as_view(), name="assistant-messages"),
    path(
        "assistant/conversations/<int:conversation_id>",
        AssistantConversationDetailApi.as_view(),
        name="assistant-conversation",
    ),
    path("merchant/conversations", MerchantConversationListApi.as_view(), name="merchant-conversations"),
    path(
        "merchant/conversations/<int:conversation_id>/messages",
        MerchantConversationMessageCreateApi.as_view(),
        name="merchant-conversation-messages",
    ),
]

"""Customer service endpoints (docs/api.md): the buyer's turn and conversation, merchant
staff's list of handed-over conversations and their answer. Text only, length-capped,
throttled per user; someone else's conversation or order is a 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.api.permissions import MERCHANT_STAFF
from shop.api.serializers import IdField, QuerySerializer, Serializer
from shop.api.throttling import UserScopedRateThrottle

from ..models import Conversation, Message
from ..selectors import conversation_get_for_asker, conversation_list_for_merchant
from ..services import assistant_message_post, conversation_reply
from .serializers import ConversationOutput, MerchantConversationOutput, MessageOutput, MessageTextField

TurnOutput = inline_serializer(
    "AssistantTurn",
    {
        "conversation_id": serializers.IntegerField(),
        "intent": serializers.CharField(),
        "reply": serializers.CharField(),
        "data": serializers.JSONField(),
        "handed_over": serializers.BooleanField(),
    },
)


class AssistantMessageCreateApi(APIView):
    """Ask the assistant: ``{text, conversation_id?, order_id?}``."""

    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "assistant_message"

    class InputSerializer(Serializer):
        text = MessageTextField()
        conversation_id = IdField(required=False)
        order_id = IdField(required=False)

    @extend_schema(request=InputSerializer, responses={200: TurnOutput})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        turn = assistant_message_post(asker=request.user, **payload.validated_data)
        return Response(
            {
                "conversation_id": turn.conversation.pk,
                "intent": turn.intent,
                "reply": turn.reply,
                "data": turn.data,
                "handed_over": turn.handed_over,
            }
        )


class AssistantConversationDetailApi(APIView):
    @extend_schema(responses=ConversationOutput)
    def get(self, request, conversation_id: int):
        conversation = conversation_get_for_asker(asker=request.user, conversation_id=conversation_id)
        return Response(ConversationOutput(conversation).data)


class MerchantConversationListApi(ListAPIView):
    """Conversations handed over to my merchant, newest handover first; ``?status=``."""

    serializer_class = MerchantConversationOutput
    permission_classes = MERCHANT_STAFF

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(
            choices=[Conversation.Status.HANDED_OVER, Conversation.Status.ANSWERED], required=False
        )

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return conversation_list_for_merchant(
            merchant_id=self.request.merchant.pk, status=filters.validated_data.get("status")
        )


class MerchantConversationMessageCreateApi(APIView):
    """Answer a handed-over conversation of my merchant: ``{text}`` → ``201`` the message."""

    permission_classes = MERCHANT_STAFF
    throttle_classes = [UserScopedRateThrottle]
    throttle_scope = "conversation_reply"

    class InputSerializer(Serializer):
        text = MessageTextField()

    @extend_schema(request=InputSerializer, responses={201: MessageOutput})
    def post(self, request, conversation_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        message = conversation_reply(
            conversation_id=conversation_id,
            author=request.user,
            sender=Message.Sender.MERCHANT,
            text=payload.validated_data["text"],
            merchant_id=request.merchant.pk,
        )
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)

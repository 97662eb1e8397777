"""Output shapes of customer service (docs/api.md "Customer service"). Messages are shown
to the buyer as stored and to merchant staff with ``data`` filtered (``privacy``)."""

from __future__ import annotations

from rest_framework import serializers

from shop.api.serializers import Serializer

from ..models import Conversation, Message
from ..privacy import for_merchant, text_for_merchant


class MessageOutput(Serializer):
    id = serializers.IntegerField()
    sender = serializers.ChoiceField(choices=Message.Sender.choices)
    text = serializers.CharField()
    intent = serializers.CharField(help_text="The assistant's messages only; empty otherwise.")
    data = serializers.JSONField(help_text="The facts an assistant's reply was built from.")
    created_at = serializers.DateTimeField()


class MerchantMessageOutput(MessageOutput):
    text = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()

    def get_text(self, message: Message) -> str:
        return text_for_merchant(message.text, message.data)

    def get_data(self, message: Message) -> dict:
        return for_merchant(message.data)


class ConversationOutput(Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    handed_over_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField()
    messages = MessageOutput(many=True)


class MerchantConversationOutput(ConversationOutput):
    messages = MerchantMessageOutput(many=True)

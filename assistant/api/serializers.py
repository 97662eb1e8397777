"""Output shapes of customer service (docs/api.md "Customer service"). Messages are shown
to the buyer as stored and to merchant staff with ``data`` filtered (``privacy``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shop.api.serializers import Serializer

from ..models import TEXT_MAX_CHARS, Conversation, Message
from ..privacy import conversation_secrets, for_merchant, text_for_merchant


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
        return text_for_merchant(message.text, message.data, self.context.get("secrets", ()))

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

    def to_representation(self, conversation: Conversation) -> dict:
        self.context["secrets"] = conversation_secrets(conversation)  # read by its messages
        return super().to_representation(conversation)


# What ``message_text_clean`` accepts, said in the schema: no control character (a newline and
# a tab are fine), and at least one character that is not blank.
_TEXT_CHAR = r"[^\x00-\x08\x0b-\x1f\x7f]"
MESSAGE_TEXT_PATTERN = rf"^{_TEXT_CHAR}*[^\s\x00-\x1f\x7f\x85]{_TEXT_CHAR}*$"


@extend_schema_field({"type": "string", "maxLength": TEXT_MAX_CHARS, "pattern": MESSAGE_TEXT_PATTERN})
class MessageTextField(serializers.CharField):
    """A message's text as a person types it; the service checks it again (``message_text_clean``)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=TEXT_MAX_CHARS, trim_whitespace=True, **kwargs)

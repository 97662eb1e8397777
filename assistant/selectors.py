"""Reads of conversations, each for who is asking: the buyer (their own), merchant staff
(their merchant's handed-over ones), ops (admin reads every one)."""

from __future__ import annotations

from django.db.models import F, Prefetch, QuerySet

from .errors import ConversationNotFound
from .models import Conversation, Message


def _with_messages(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return conversations.prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("pk")))


def conversation_get_for_asker(*, asker, conversation_id: int, with_messages: bool = True) -> Conversation:
    """The asker's own conversation; anyone else's is reported as not found."""
    conversations = Conversation.objects.filter(pk=conversation_id, asker=asker)
    conversation = (_with_messages(conversations) if with_messages else conversations).first()
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def conversation_list_for_merchant(*, merchant_id: int, status: str | None = None) -> QuerySet[Conversation]:
    """Conversations handed over to the merchant (about its own orders only), newest
    handover first; ``status`` ``handed_over`` lists those waiting for an answer."""
    conversations = Conversation.objects.filter(
        merchant_id=merchant_id, handed_over_at__isnull=False
    ).annotate(pickup_code=F("order__pickup__code"))  # masked in what staff see (privacy.py)
    if status:
        conversations = conversations.filter(status=status)
    return _with_messages(conversations).order_by("-handed_over_at", "-pk")


def conversation_get_for_merchant(*, merchant_id: int, conversation_id: int) -> Conversation:
    conversation = conversation_list_for_merchant(merchant_id=merchant_id).filter(pk=conversation_id).first()
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def conversations_waiting_for_merchant(*, merchant_id: int, limit: int = 5) -> tuple[int, list[Conversation]]:
    """(how many handed-over conversations wait for the merchant's answer, the ``limit`` that
    have waited longest): the console's home page. Two indexed reads, no messages."""
    waiting = Conversation.objects.filter(merchant_id=merchant_id, status=Conversation.Status.HANDED_OVER)
    return waiting.count(), list(waiting.order_by("handed_over_at", "pk")[:limit])

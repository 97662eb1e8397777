"""Customer service (docs/assistant.md): conversations between a buyer and the assistant,
handed over to the merchant's staff (or to ops) when the assistant cannot help, and the
phrase table the assistant recognises intents with."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from shop.models import BaseModel

TEXT_MAX_CHARS = 500  # a buyer's question or a person's answer: text only, capped
INTENTS = ("order_status", "refund", "team", "rebate", "withdrawal", "handover", "unknown")


class Intent(models.TextChoices):
    ORDER_STATUS = "order_status", "Order status and delivery"
    REFUND = "refund", "Refund eligibility, amount and deadline"
    TEAM = "team", "Team status"
    REBATE = "rebate", "When a rebate settles"
    WITHDRAWAL = "withdrawal", "Why a withdrawal waits"
    HANDOVER = "handover", "Asked for a person"
    UNKNOWN = "unknown", "Not understood"


class Conversation(BaseModel):
    """A buyer's conversation about one order, or about no order (wallet, withdrawals).

    The subject is fixed by the first message: a question about another order starts
    another conversation, so the merchant a conversation is handed to never sees anything
    about another merchant's (or another order's) business. ``merchant`` is set at handover
    (the order's merchant); a handed-over conversation with no order is for ops (admin).
    ``failed_turns`` counts the assistant's consecutive turns without an answer: at
    ``HANDOVER_AFTER_FAILED_TURNS`` the conversation is handed over."""

    class Status(models.TextChoices):
        ASSISTANT = "assistant", "With the assistant"
        HANDED_OVER = "handed_over", "Waiting for a person"
        ANSWERED = "answered", "Answered by a person"

    asker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conversations"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="conversations"
    )
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conversations",
        help_text="Set at handover: whose staff answer. Empty: ops answer (no order involved).",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ASSISTANT)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    failed_turns = models.PositiveSmallIntegerField(default=0)
    last_message_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["asker", "-last_message_at"], name="conversation_asker_idx"),
            models.Index(
                fields=["merchant", "-handed_over_at"],
                condition=Q(handed_over_at__isnull=False),
                name="conversation_merchant_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="assistant") | Q(handed_over_at__isnull=False),
                name="conversation_handed_over_has_time",
            ),
        ]

    def __str__(self) -> str:
        about = f"order {self.order_id}" if self.order_id else "no order"
        return f"Conversation {self.pk} ({about}, {self.status})"

    @property
    def is_handed_over(self) -> bool:
        return self.status != self.Status.ASSISTANT


class Message(models.Model):
    """One message, text only. The assistant's carry the intent and ``data``, the facts the
    reply was built from (filtered before merchant staff see them: docs/assistant.md)."""

    class Sender(models.TextChoices):
        BUYER = "buyer", "Buyer"
        ASSISTANT = "assistant", "Assistant"
        MERCHANT = "merchant", "Merchant staff"
        OPS = "ops", "Ops"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=10, choices=Sender.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The buyer, staff member or ops user who wrote it (empty for the assistant).",
    )
    text = models.CharField(max_length=TEXT_MAX_CHARS * 2)
    intent = models.CharField(max_length=16, choices=Intent.choices, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation_idx")]

    def __str__(self) -> str:
        return f"{self.sender}: {self.text[:40]}"


class IntentPhrase(BaseModel):
    """A word or phrase that points to an intent, with a weight (ops extend it in admin).

    A phrase scores when jieba cuts it out of the question as a word, or — for phrases of
    two or more characters — when the question contains it. The intent with the highest
    total wins (docs/assistant.md, "Intents"). Saving or deleting a row invalidates the
    cached table in every process (``assistant/signals.py``)."""

    phrase = models.CharField(max_length=30, unique=True)
    intent = models.CharField(max_length=16, choices=[c for c in Intent.choices if c[0] != "unknown"])
    weight = models.PositiveSmallIntegerField(default=2, help_text="1 weak hint … 5 decisive.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["intent", "phrase"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=1) & Q(weight__lte=9), name="intentphrase_weight_1_9"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phrase} → {self.intent} ({self.weight})"

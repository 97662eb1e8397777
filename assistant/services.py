"""The assistant's turn and the handover (docs/assistant.md).

``assistant_message_post`` is one buyer turn: read the question (``intents``), settle
which order it is about (``order_pick``), answer from the asker's own data (``answers``),
and store both messages in the conversation about that order — a question about another
order goes to another conversation. Asking for a person (转人工), or
``HANDOVER_AFTER_FAILED_TURNS`` consecutive turns the assistant could not answer, hands
the conversation to the order's merchant (its staff are notified) or, with no order, to
ops. ``conversation_reply`` is a person's answer; the buyer is notified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from django.db import transaction
from django.utils import timezone

from merchants.roles import ORDERS, staff_require_role
from merchants.selectors import merchant_staff_user_ids
from orders.models import Order
from orders.selectors import order_get_for_buyer
from shop.notifications.services import notification_send

from . import answers
from .answers import OFFER_PERSON, Answer
from .errors import ConversationNotFound, MessageInvalid
from .intents import Recognized, intent_recognize
from .models import TEXT_MAX_CHARS, Conversation, Message
from .order_pick import Pick, order_named, order_pick
from .selectors import conversation_get_for_asker

HANDOVER_AFTER_FAILED_TURNS = 2
# Conversations holding these facts are the buyer's wallet business: never adopt an order
# later (a merchant would then see them). See ``_conversation_for``.
WALLET_INTENTS = frozenset({"withdrawal", "rebate"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Turn:
    conversation: Conversation
    intent: str
    reply: str
    data: dict
    handed_over: bool


def message_text_clean(text: str) -> str:
    """Plain text, 1 to ``TEXT_MAX_CHARS`` characters after trimming (else 400)."""
    if not isinstance(text, str):
        raise MessageInvalid(fields={"text": ["Text only."]})
    text = text.strip()
    if not text:
        raise MessageInvalid(fields={"text": ["Write something."]})
    if len(text) > TEXT_MAX_CHARS:
        raise MessageInvalid(fields={"text": [f"At most {TEXT_MAX_CHARS} characters."]})
    if _CONTROL.search(text):
        raise MessageInvalid(fields={"text": ["Text only: no control characters."]})
    return text


def assistant_message_post(
    *, asker, text: str, conversation_id: int | None = None, order_id: int | None = None
) -> Turn:
    """One buyer turn. Refusals (someone else's conversation or order: 404; bad text:
    400) write nothing."""
    text = message_text_clean(text)
    continuing = (
        conversation_get_for_asker(asker=asker, conversation_id=conversation_id, with_messages=False)
        if conversation_id
        else None
    )
    recognized = intent_recognize(text)
    named = order_named(asker=asker, order_id=order_id if order_id is not None else recognized.order_number)
    if named is not None and recognized.intent == "unknown" and not recognized.is_unsure and continuing:
        recognized = _answering_ask_back(recognized, continuing)
    order, answer = _answer(asker=asker, recognized=recognized, named=named, continuing=continuing)
    now = timezone.now()
    wants_person = recognized.intent == "handover"
    reply = answer.reply
    with transaction.atomic():
        conversation = _conversation_for(
            asker=asker, order=order, continuing=continuing, intent=recognized.intent, now=now
        )
        conversation.failed_turns = 0 if answer.is_answered else conversation.failed_turns + 1
        conversation.last_message_at = now
        newly_handed_over = False
        if wants_person or conversation.failed_turns >= HANDOVER_AFTER_FAILED_TURNS:
            newly_handed_over = not conversation.is_handed_over
            _mark_handed_over(conversation, order=order, now=now)
            reply = reply if wants_person else f"{reply}我暂时帮不上忙，已为你转人工，请稍候。"
        elif conversation.is_handed_over:  # the buyer writes again: a person answers next
            conversation.status = Conversation.Status.HANDED_OVER
        conversation.save(**({} if conversation._state.adding else {"update_fields": _TURN_FIELDS}))
        Message.objects.bulk_create(
            [
                Message(conversation=conversation, sender=Message.Sender.BUYER, author=asker, text=text),
                Message(
                    conversation=conversation,
                    sender=Message.Sender.ASSISTANT,
                    text=reply,
                    intent=recognized.intent,
                    data=answer.data,
                ),
            ]
        )
        if newly_handed_over:
            _notify_staff(conversation)
    return Turn(
        conversation=conversation,
        intent=recognized.intent,
        reply=reply,
        data=answer.data,
        handed_over=conversation.is_handed_over,
    )


_TURN_FIELDS = [
    "order",
    "merchant",
    "status",
    "handed_over_at",
    "failed_turns",
    "last_message_at",
    "updated_at",
]


def _answering_ask_back(recognized: Recognized, continuing: Conversation) -> Recognized:
    """Right after the assistant asked which order, "订单1024" answers the question asked then."""
    last = continuing.messages.filter(sender=Message.Sender.ASSISTANT).order_by("-pk").first()
    if last is not None and "choices" in last.data:
        return replace(recognized, intent=last.intent)
    return recognized


def _answer(*, asker, recognized: Recognized, named: Order | None, continuing) -> tuple[Order | None, Answer]:
    """The order the turn is about and the answer. Order-free intents (withdrawal) have
    none; handover and unknown stay on the conversation's order (or the named one)."""
    intent = recognized.intent
    order = named
    if order is None and continuing is not None and continuing.order_id and intent != "withdrawal":
        order = order_get_for_buyer(buyer=asker, order_id=continuing.order_id)
    if intent == "withdrawal":
        return None, answers.answer_withdrawal(asker=asker)
    if intent == "handover":
        return order, Answer(
            "好的，已为你转人工客服，请稍候，回复会通知你。", {"order_id": order.pk if order else None}
        )
    if intent == "unknown":
        return order, _not_understood(recognized, order)
    if order is None:
        pick = order_pick(asker=asker, intent=intent, words=recognized.words)
        if pick.is_ambiguous:
            return None, _ask_which(pick)
        order = pick.order
    if order is None:
        if intent == "rebate":
            return None, answers.answer_rebate(None, asker=asker)
        return None, Answer("你还没有订单。", {"order_id": None})
    if intent == "order_status":
        return order, answers.answer_order_status(order)
    if intent == "refund":
        return order, answers.answer_refund(order)
    if intent == "team":
        return order, answers.answer_team(order)
    return order, answers.answer_rebate(order, asker=asker)


def _not_understood(recognized: Recognized, order: Order | None) -> Answer:
    data = {"order_id": order.pk if order else None}
    if recognized.is_unsure:
        data["candidates"] = sorted(recognized.scores, key=lambda i: -recognized.scores[i])[:2]
        return Answer(
            "涉及钱的问题我不想答错：你是想问退款、返利还是提现？请说得具体一点。" + OFFER_PERSON,
            data,
            is_answered=False,
        )
    return Answer(
        "抱歉，我没听懂。我可以查订单物流、退款、拼团、返利和提现。" + OFFER_PERSON, data, is_answered=False
    )


def _ask_which(pick: Pick) -> Answer:
    choices = [{"order_id": o.pk, "title": answers._title(o), "status": o.status} for o in pick.choices]
    listed = "；".join(f"订单{c['order_id']}（{c['title']}）" for c in choices)
    return Answer(f"你最近有几个订单：{listed}。请问是哪一个？回复“订单+编号”即可。", {"choices": choices})


def _conversation_for(*, asker, order: Order | None, continuing, intent: str, now) -> Conversation:
    """The conversation this turn belongs to: the one continued (locked) if it is about
    the same order (or none); a conversation with no order yet, not handed over and
    holding no wallet facts, takes the order the turn settled on; otherwise a new one
    (not saved yet: the caller saves it with the turn's figures, one INSERT)."""
    order_id = order.pk if order else None
    if continuing is not None:
        conversation = Conversation.objects.select_for_update(no_key=True, of=("self",)).get(pk=continuing.pk)
        if conversation.order_id == order_id:
            return conversation
        adoptable = (
            conversation.order_id is None
            and order_id is not None
            and not conversation.is_handed_over
            and intent not in WALLET_INTENTS
            and not conversation.messages.filter(intent__in=WALLET_INTENTS)
            .exclude(data__has_key="choices")  # asking which order holds no wallet facts
            .exists()
        )
        if adoptable:
            conversation.order_id = order_id
            return conversation
    return Conversation(asker=asker, order=order, last_message_at=now)


def _mark_handed_over(conversation: Conversation, *, order: Order | None, now) -> None:
    """To the order's merchant or, with no order, to ops (admin). Handing over again only
    puts the conversation back in the waiting list (the first handover time is kept)."""
    conversation.status = Conversation.Status.HANDED_OVER
    if conversation.handed_over_at is None:
        conversation.handed_over_at = now
        conversation.merchant_id = order.merchant_id if order is not None else None


def _notify_staff(conversation: Conversation) -> None:
    """Every staff member of the merchant, once per conversation (ops read admin)."""
    if conversation.merchant_id is None:
        return
    for user_id in merchant_staff_user_ids(merchant_id=conversation.merchant_id):
        notification_send(
            recipient_id=user_id,
            kind="conversation_handed_over",
            title=f"A buyer asks for help with order {conversation.order_id}",
            data={"conversation_id": conversation.pk, "order_id": conversation.order_id},
            dedupe_key=f"conversation:{conversation.pk}:handover:{user_id}",
        )


@transaction.atomic
def conversation_reply(
    *, conversation_id: int, author, sender: str, text: str, merchant_id: int | None = None
) -> Message:
    """A person answers a handed-over conversation: merchant staff (``merchant_id``: only
    their merchant's conversations, anyone else's 404) or ops (only those with no order:
    the others are the merchant's to answer). The buyer is notified once per answer.
    Among merchant staff, answering is for the roles that handle orders (merchants/roles.py)."""
    if sender == Message.Sender.MERCHANT and merchant_id is not None:
        staff_require_role(user=author, merchant_id=merchant_id, area=ORDERS)
    text = message_text_clean(text)
    conversation = (
        Conversation.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk=conversation_id, handed_over_at__isnull=False)
        .first()
    )
    if conversation is None:
        raise ConversationNotFound()
    if sender == Message.Sender.MERCHANT and (merchant_id is None or conversation.merchant_id != merchant_id):
        raise ConversationNotFound()
    if sender == Message.Sender.OPS and conversation.order_id is not None:
        raise ConversationNotFound("Conversations about an order are answered by its merchant.")
    if sender not in (Message.Sender.MERCHANT, Message.Sender.OPS):
        raise ValueError(f"not a person's role: {sender}")
    message = Message.objects.create(conversation=conversation, sender=sender, author=author, text=text)
    conversation.status = Conversation.Status.ANSWERED
    conversation.last_message_at = timezone.now()
    conversation.save(update_fields=["status", "last_message_at", "updated_at"])
    notification_send(
        recipient_id=conversation.asker_id,
        kind="conversation_answered",
        title="客服回复了你的问题",
        body=text[:100],
        data={"conversation_id": conversation.pk, "order_id": conversation.order_id},
        dedupe_key=f"conversation-message:{message.pk}",
    )
    return message

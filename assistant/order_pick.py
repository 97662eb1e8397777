"""Which order a question is about (docs/assistant.md, "Which order").

1. An order named by the caller: ``order_id`` in the body, else an order number in the
   text (after 订单 / 单号 / #). It must be the asker's (``order_get_for_buyer``: anyone
   else's is a 404, the same answer as a number that does not exist).
2. Else the order of the conversation the question continues.
3. Else, for the intents about an order, the asker's orders *in play* for that intent
   (``IN_PLAY``: e.g. for delivery, those paid and not yet received; for a rebate, those
   with a rebate of the asker's still pending), among the latest ``RECENT``:
   - exactly one → that one;
   - several → the one whose product the question names, if exactly one matches (我买的
     纸巾到哪了); otherwise the assistant asks which, listing them;
   - none → the asker's most recent order (its state answers the question: 已完成 …),
     except for a rebate: the wallet's totals answer it; no order at all → the assistant
     says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from orders.models import Order
from orders.selectors import order_get_for_buyer, order_list_for_buyer
from rebates.models import Accrual

RECENT = 20  # only the latest orders are looked at; older ones must be named
ASK_AT_MOST = 5  # choices listed when asking which
IN_PLAY: dict[str, frozenset[str]] = {
    "order_status": frozenset({"pending_payment", "awaiting_team", "paid", "shipped"}),
    "refund": frozenset({"awaiting_team", "paid", "shipped", "received"}),
    "team": frozenset({"pending_payment", "awaiting_team"}),
}


@dataclass(frozen=True)
class Pick:
    order: Order | None = None
    choices: tuple[Order, ...] = ()  # several in play: ask which

    @property
    def is_ambiguous(self) -> bool:
        return bool(self.choices)


def order_named(*, asker, order_id: int | None) -> Order | None:
    return order_get_for_buyer(buyer=asker, order_id=order_id) if order_id is not None else None


def order_pick(*, asker, intent: str, words: tuple[str, ...]) -> Pick:
    """Rule 3 above (the caller has already tried 1 and 2)."""
    recent = list(order_list_for_buyer(buyer=asker)[:RECENT])
    if not recent:
        return Pick()
    if intent == "team":
        in_play = [o for o in recent if o.status in IN_PLAY["team"] and hasattr(o, "team_member")]
    elif intent == "rebate":
        pending = set(
            Accrual.objects.filter(beneficiary=asker, status=Accrual.Status.PENDING).values_list(
                "order_id", flat=True
            )
        )
        in_play = [o for o in recent if o.pk in pending]
    else:
        in_play = [o for o in recent if o.status in IN_PLAY.get(intent, frozenset())]
    if len(in_play) == 1:
        return Pick(order=in_play[0])
    if not in_play:
        # No rebate still to settle: the wallet's totals answer it, not an old order.
        return Pick() if intent == "rebate" else Pick(order=recent[0])
    named = [o for o in in_play if _names_product(o, words)]
    if len(named) == 1:
        return Pick(order=named[0])
    return Pick(choices=tuple(in_play[:ASK_AT_MOST]))


def _names_product(order: Order, words: tuple[str, ...]) -> bool:
    """A word of two characters or more of the question is in one of the order's titles."""
    long_words = [w for w in words if len(w) >= 2]
    return any(w in item.product_title for item in order.items.all() for w in long_words)

"""The ledger postings of confirmed gateway steps that only ``shop.payments`` needs to know
(docs/merchant-money.md, "The ledger follows the money"). Each posts once, under the step's
key, with ``ref_type="order"`` (statements read these kinds on ``merchant_frozen``)."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import Sum

from shop.ledger.models import Account, Entry
from shop.ledger.services import AccountRef, Posting, ledger_post, ledger_post_many

from .models import FundsStep
from .services import gateway_clearing


def merchant_frozen(merchant_id: int) -> AccountRef:
    return AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, merchant_id)


def subsidy_confirmed(step: FundsStep) -> None:
    """The platform paid the coupon's part into the merchant's frozen funds."""
    ledger_post(
        key=f"funds-step:{step.pk}",
        kind="subsidy_paid",
        lines=[(merchant_frozen(step.merchant_id), -step.amount_fen), (gateway_clearing(), step.amount_fen)],
        memo=f"Subsidy {step.out_no}",
        ref_type="order",
        ref_id=step.order_id,
    )


def order_frozen_fen(*, order_id: int, merchant_id: int) -> int:
    """What the ledger holds frozen at the gateway for this order (its ``merchant_frozen``
    lines, negated): paid + subsidy − shares − refunds from frozen funds + returned shares."""
    return orders_frozen_fen(orders={order_id: merchant_id}).get(order_id, 0)


def orders_frozen_fen(*, orders: dict[int, int]) -> dict[int, int]:
    """``order_frozen_fen`` of several orders (``{order: merchant}``) in one query."""
    if not orders:
        return {}
    rows = (
        Entry.objects.filter(
            transaction__ref_type="order",
            transaction__ref_id__in=list(orders),
            account__kind=Account.Kind.MERCHANT_FROZEN,
            account__owner_id__in=set(orders.values()),
        )
        .order_by()
        .values_list("transaction__ref_id", "account__owner_id")
        .annotate(total=Sum("amount_fen"))
    )
    return {
        order_id: -(total or 0)
        for order_id, merchant_id, total in rows
        if orders.get(order_id) == merchant_id
    }


def unfreeze_confirmed(step: FundsStep) -> None:
    """``unfreezes_confirmed`` of one step."""
    unfreezes_confirmed([step])


def unfreezes_confirmed(steps: list[FundsStep]) -> None:
    """The rest left the frozen funds for the merchant: neither frozen nor receivable now.
    The rest is what is frozen for the order *now* (a refund may have come between the
    writing of the step and its confirmation): the step records it. Nothing is left when a
    full refund came after the share — the share's fee is not returned, so the refund took
    it from the merchant's released money and the order's frozen part is above zero: the
    unfreeze releases 0 and posts nothing. A confirmed batch is one query for the rests and
    one ``ledger_post_many``."""
    rest = orders_frozen_fen(orders={s.order_id: s.merchant_id for s in steps})
    changed = []
    for step in steps:
        released = max(rest.get(step.order_id, 0), 0)
        if released != step.amount_fen:
            step.amount_fen = released
            changed.append(step)
    FundsStep.objects.bulk_update(changed, ["amount_fen"])
    ledger_post_many(
        postings=[
            Posting(
                key=f"funds-step:{step.pk}",
                kind="unfreeze_confirmed",
                lines=[
                    (merchant_frozen(step.merchant_id), step.amount_fen),
                    (
                        AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, step.merchant_id),
                        -step.amount_fen,
                    ),
                ],
                memo=f"Unfreeze {step.out_no}",
                ref_type="order",
                ref_id=step.order_id,
            )
            for step in steps
            if step.amount_fen
        ]
    )


def share_returned(step: FundsStep) -> None:
    """The platform gave (part of) its share back into the merchant's frozen funds before a
    refund: the commission the refund clawed back (rebates' refunded hook, same amount)."""
    ledger_post(
        key=f"funds-step:{step.pk}",
        kind="share_returned",
        lines=[(merchant_frozen(step.merchant_id), -step.amount_fen), (gateway_clearing(), step.amount_fen)],
        memo=f"Share return {step.out_no}",
        ref_type="order",
        ref_id=step.order_id,
    )
    from .tasks import refund_send_task

    # The refund waited for this: send it now (the refunds sweeper would, a minute later).
    transaction.on_commit(partial(refund_send_task.delay, step.refund_id), robust=True)


def subsidy_returned(step: FundsStep) -> None:
    """The coupon's share of a refund went back to the platform (补差回退)."""
    ledger_post(
        key=f"funds-step:{step.pk}",
        kind="subsidy_returned",
        lines=[(merchant_frozen(step.merchant_id), step.amount_fen), (gateway_clearing(), -step.amount_fen)],
        memo=f"Subsidy return {step.out_no}",
        ref_type="order",
        ref_id=step.order_id,
    )


def register_step_handlers() -> None:
    from .steps import STEP_CONFIRMED, STEPS_CONFIRMED

    STEP_CONFIRMED.register(FundsStep.Kind.SUBSIDY, subsidy_confirmed)
    STEP_CONFIRMED.register(FundsStep.Kind.UNFREEZE, unfreeze_confirmed)
    STEPS_CONFIRMED.register(FundsStep.Kind.UNFREEZE, unfreezes_confirmed)
    STEP_CONFIRMED.register(FundsStep.Kind.SHARE_RETURN, share_returned)
    STEP_CONFIRMED.register(FundsStep.Kind.SUBSIDY_RETURN, subsidy_returned)

"""Profit sharing reconciled with the ledger, for ``manage.py ledger_check``
(docs/merchant-money.md): every part and every gateway step has its posting on the
merchant's ``merchant_frozen`` account, and each merchant's frozen funds are what its parts
and steps say.

- **merchant frozen**: per merchant, − the parts of its paid shared payments − confirmed
  subsidies + finished shares + confirmed unfreezes − returned shares + returned subsidies
  + succeeded refunds from its funds (less what the platform advanced) + WeChat's handling
  fees booked on its parts (``gateway_fees``).
- **payment parts**: per paid shared payment the parts add up to the payment; per part its
  ``order_paid_shared`` line is − its amount (and it has its ``transaction_id``).
- **funds steps**: each confirmed step's posting carries its amount on ``merchant_frozen``
  (a subsidy −, a share +, an unfreeze +); a step not confirmed has none.

Each is a handful of ``GROUP BY`` queries, whatever the number of orders.
"""

from __future__ import annotations

from django.db.models import Count, F, Q, Sum

from shop.ledger.checks import register_check
from shop.ledger.models import Account, Entry
from shop.ledger.reconcile import compare_owned, grouped_fen, sum_maps

from .gateway_fees import shared_fees_by_merchant
from .models import FundsStep, Payment, PaymentPart, Refund

FROZEN_CHECK = "payments: merchant frozen against parts and steps"
PARTS_CHECK = "payments: payment parts against payments and their postings"
STEPS_CHECK = "payments: funds steps against their postings"

# The merchant_frozen line's sign of each confirmed step kind, and the posting kind.
STEP_POSTINGS = {
    FundsStep.Kind.SUBSIDY: (-1, "subsidy_paid"),
    FundsStep.Kind.SHARE: (1, "share_finished"),
    FundsStep.Kind.UNFREEZE: (1, "unfreeze_confirmed"),
    FundsStep.Kind.SHARE_RETURN: (-1, "share_returned"),
    FundsStep.Kind.SUBSIDY_RETURN: (1, "subsidy_returned"),
}


def _paid_parts():
    return PaymentPart.objects.filter(payment__status=Payment.Status.SUCCEEDED)


def _confirmed_by_merchant(kind: str) -> dict:
    return grouped_fen(
        FundsStep.objects.filter(kind=kind, status=FundsStep.Status.CONFIRMED), "merchant_id", "amount_fen"
    )


def merchant_frozen_check() -> list[str]:
    paid = grouped_fen(_paid_parts(), "merchant_id", "amount_fen")
    subsidies = _confirmed_by_merchant(FundsStep.Kind.SUBSIDY)
    shares = _confirmed_by_merchant(FundsStep.Kind.SHARE)
    unfrozen = _confirmed_by_merchant(FundsStep.Kind.UNFREEZE)
    share_back = _confirmed_by_merchant(FundsStep.Kind.SHARE_RETURN)
    subsidy_back = _confirmed_by_merchant(FundsStep.Kind.SUBSIDY_RETURN)
    refunded = grouped_fen(  # what the merchant's funds paid (not the platform's advance)
        Refund.objects.filter(status=Refund.Status.SUCCEEDED, part__isnull=False),
        "part__merchant_id",
        F("amount_fen") - F("advance_fen"),
    )
    fees = shared_fees_by_merchant()
    expected = sum_maps(
        (1, fees),
        (-1, paid),
        (-1, subsidies),
        (1, shares),
        (1, unfrozen),
        (-1, share_back),
        (1, subsidy_back),
        (1, refunded),
    )
    return compare_owned(
        kind=Account.Kind.MERCHANT_FROZEN,
        owner_type=Account.OwnerType.MERCHANT,
        expected=expected,
        describe=lambda m: f"frozen funds of merchant {m} against its parts and steps",
        detail=lambda m: (
            f"paid parts {paid.get(m, 0)}, confirmed subsidies {subsidies.get(m, 0)}, "
            f"finished shares {shares.get(m, 0)}, confirmed unfreezes {unfrozen.get(m, 0)}, "
            f"returned shares {share_back.get(m, 0)}, returned subsidies {subsidy_back.get(m, 0)}, "
            f"refunds from its funds {refunded.get(m, 0)}, handling fees {fees.get(m, 0)}"
        ),
    )


def _frozen_lines(kind: str, by: str) -> dict:
    """``{by: Σ merchant_frozen lines}`` of the transactions of one kind."""
    return grouped_fen(
        Entry.objects.filter(transaction__kind=kind, account__kind=Account.Kind.MERCHANT_FROZEN),
        by,
        "amount_fen",
    )


def payment_parts_check() -> list[str]:
    problems = []
    totals = (
        _paid_parts()
        .order_by()
        .values("payment_id", "payment__amount_fen")
        .annotate(parts=Sum("amount_fen"), unpaid=Count("pk", filter=Q(transaction_id__isnull=True)))
        .exclude(parts=F("payment__amount_fen"), unpaid=0)
    )
    for row in totals:
        problems.append(
            f"payment {row['payment_id']}: parts add up to {row['parts']} fen for a payment of "
            f"{row['payment__amount_fen']} fen, {row['unpaid']} part(s) without a transaction id"
        )
    posted = _frozen_lines("order_paid_shared", "transaction__ref_id")
    for order_id, amount in _paid_parts().order_by("order_id").values_list("order_id", "amount_fen"):
        found = posted.pop(order_id, 0)
        if found != -amount:
            problems.append(
                f"part of order {order_id}: expected an order_paid_shared line of {-amount} fen on "
                f"merchant_frozen, found {found} fen, difference {found + amount:+d} fen"
            )
    for order_id, found in sorted(posted.items()):
        problems.append(f"order {order_id}: an order_paid_shared posting of {found} fen with no paid part")
    return problems


def funds_steps_check() -> list[str]:
    """Per order and kind: the confirmed steps' amounts against their postings' lines."""
    problems = []
    for kind, (sign, posting_kind) in STEP_POSTINGS.items():
        posted = _frozen_lines(posting_kind, "transaction__ref_id")
        steps = FundsStep.objects.filter(kind=kind)
        confirmed = grouped_fen(steps.filter(status=FundsStep.Status.CONFIRMED), "order_id", "amount_fen")
        for order_id in sorted(set(steps.values_list("order_id", flat=True)) | set(posted)):
            want, found = sign * confirmed.get(order_id, 0), posted.get(order_id, 0)
            if found != want:
                problems.append(
                    f"{kind} steps of order {order_id}: expected {posting_kind} lines of {want} fen on "
                    f"merchant_frozen (confirmed steps), found {found} fen, difference {found - want:+d} fen"
                )
    return problems


def register_sharing_checks() -> None:
    register_check(name=FROZEN_CHECK, run=merchant_frozen_check)
    register_check(name=PARTS_CHECK, run=payment_parts_check)
    register_check(name=STEPS_CHECK, run=funds_steps_check)

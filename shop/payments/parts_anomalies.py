"""A shared payment's anomaly refunded automatically (docs/merchant-money.md "Anomalies").

When the e-commerce gateway reports a shared payment we cannot apply — other parts or amounts
than we declared, or paid after we closed it — nothing is sold, and the money that arrived sits
in the merchants' frozen funds at WeChat. As ``_anomaly_refund`` does for the platform's own
account, it is booked and sent back in full, exactly once, in the transaction that records the
anomaly:

- one ``AnomalyPart`` per **reported** part (its ``sub_mchid``, ``out_trade_no``,
  ``transaction_id`` and amount as WeChat said them: a part may be one we never declared, or
  with another amount);
- one ``Refund`` per part (purpose ``payment_anomaly``, ``ref_id`` the anomaly, key
  ``payment-anomaly:<anomaly>:part:<part>``), requested from that merchant's funds: its
  ``refund_requested`` posting books what arrived (``merchant_anomaly: −amount``) as owed back
  (``refund_clearing: +amount``). Sent by ``parts_refunds.refund_send_shared`` through the
  e-commerce refund API with the reported ``out_trade_no`` and amount as the total (never
  advanced by the platform: a refusal is a failed refund in ops' queue);
- on success ``refund_from_anomaly``: ``refund_clearing: −amount``, ``merchant_anomaly:
  +amount`` — the merchant's anomaly account is back to 0.

Exactly once: the anomaly is unique per gateway transaction and kind, and an anomaly part per
``transaction_id``; a repeated callback finds the anomaly and writes nothing. The money is
kept off ``merchant_frozen``, which is the merchant's own money and what statements read.

``ledger_check`` compares each ``merchant_anomaly`` account with the parts booked and their
succeeded refunds, and each shared anomaly's parts with its refunds
(``anomaly_funds_check``).
"""

from __future__ import annotations

import logging

from django.db.models import F, Q

from shop.ledger.models import Account
from shop.ledger.reconcile import compare_owned, disagreement, grouped_fen, platform_balance, sum_maps
from shop.ledger.services import AccountRef, ledger_post

from .gateways.ecommerce import EcommercePayment
from .models import AnomalyPart, Payment, PaymentAnomaly, PaymentPart, Refund
from .refunds import ANOMALY_PURPOSE, refund_clearing, refund_request
from .services import ANOMALY_REFUND_REASON
from .services import anomaly_refund_succeeded as _anomaly_resolved

logger = logging.getLogger("shop.payments")

ANOMALY_FUNDS_CHECK = "payments: anomaly funds against anomaly parts and their refunds"


def anomaly_funds(merchant_id: int | None) -> AccountRef:
    """Where an anomaly part's money is booked: its merchant's, or the platform's for a
    ``sub_mchid`` we do not know."""
    if merchant_id is None:
        return AccountRef.platform(Account.Kind.MERCHANT_ANOMALY)
    return AccountRef.merchant(Account.Kind.MERCHANT_ANOMALY, merchant_id)


def _merchants_of(sub_mchids: set[str], declared: list[PaymentPart]) -> dict[str, int]:
    """``{sub_mchid: merchant id}``: from the payment's own parts, else any part paid to it."""
    found = {p.sub_mchid: p.merchant_id for p in declared if p.sub_mchid in sub_mchids}
    unknown = sub_mchids - found.keys()
    if unknown:
        rows = (
            PaymentPart.objects.filter(sub_mchid__in=unknown)
            .order_by("sub_mchid", "-pk")
            .values_list("sub_mchid", "merchant_id")
        )
        for sub_mchid, merchant_id in rows:
            found.setdefault(sub_mchid, merchant_id)
    return found


def anomaly_parts_refund(
    *, anomaly: PaymentAnomaly, result: EcommercePayment, declared: list[PaymentPart]
) -> list[AnomalyPart]:
    """Book every reported part of a just-recorded anomaly and request its refund in full,
    in the caller's transaction (under the payment's row lock). The refunds go out after
    commit (``refund_request`` enqueues them; the refunds sweeper sends any that did not)."""
    merchants = _merchants_of({p.sub_mchid for p in result.parts}, declared)
    rows = []
    for reported in result.parts:
        row = AnomalyPart.objects.create(
            anomaly=anomaly,
            merchant_id=merchants.get(reported.sub_mchid),
            sub_mchid=reported.sub_mchid,
            out_trade_no=reported.out_trade_no,
            transaction_id=reported.transaction_id,
            amount_fen=reported.amount_fen,
        )
        if row.merchant_id is None:
            logger.error(
                "anomaly %s: part %s paid to sub_mchid %s, none of our merchants'",
                anomaly.pk,
                row.out_trade_no,
                row.sub_mchid,
            )
        if row.amount_fen > 0:
            row.refund = refund_request(
                payment_id=anomaly.payment_id,
                amount_fen=row.amount_fen,
                purpose=ANOMALY_PURPOSE,
                ref_id=anomaly.pk,
                reason=ANOMALY_REFUND_REASON,
                key=f"payment-anomaly:{anomaly.pk}:part:{row.pk}",
                debits=[(anomaly_funds(row.merchant_id), row.amount_fen)],
            )
            # WeChat wants the sub-order's total with a refund: this part's, not the payment's.
            Refund.objects.filter(pk=row.refund.pk).update(total_fen=row.amount_fen)
            row.refund.total_fen = row.amount_fen
            row.save(update_fields=["refund", "updated_at"])
        rows.append(row)
    return rows


def anomaly_part_of(refund: Refund) -> AnomalyPart:
    """The anomaly part a shared payment's ``payment_anomaly`` refund sends back."""
    return AnomalyPart.objects.get(refund_id=refund.pk)


def refund_from_anomaly_post(refund: Refund) -> None:
    """In ``refund_apply``'s transaction: the part's money left the merchant's funds for the
    buyer, so it is no longer booked there."""
    part = anomaly_part_of(refund)
    ledger_post(
        key=f"refund:{refund.pk}:succeeded",
        kind="refund_from_anomaly",
        lines=[(refund_clearing(), -refund.amount_fen), (anomaly_funds(part.merchant_id), refund.amount_fen)],
        memo=f"Refund {refund.out_refund_no} of anomaly part {part.out_trade_no} from {part.sub_mchid}",
        ref_type="refund",
        ref_id=refund.pk,
    )


def anomaly_refund_succeeded(refund: Refund) -> None:
    """Refund handler of purpose ``payment_anomaly``: the anomaly is resolved once all of
    its money is back (a shared one has a refund per part)."""
    others = Refund.objects.filter(
        purpose=ANOMALY_PURPOSE, ref_id=refund.ref_id, payment_id=refund.payment_id
    )
    if others.exclude(pk=refund.pk).exclude(status=Refund.Status.SUCCEEDED).exists():
        return
    _anomaly_resolved(refund)


# --- ledger_check ---------------------------------------------------------------------------


def anomaly_funds_check() -> list[str]:
    """Each ``merchant_anomaly`` account holds − the parts booked + those refunded; every
    shared anomaly's parts add up to what it reported, each part with an amount has a refund
    of that amount, and every shared anomaly refund belongs to a part."""
    booked_parts = AnomalyPart.objects.filter(refund__isnull=False)
    booked = grouped_fen(booked_parts, "merchant_id", "amount_fen")
    refunded = grouped_fen(
        booked_parts.filter(refund__status=Refund.Status.SUCCEEDED), "merchant_id", "amount_fen"
    )
    expected = sum_maps((-1, booked), (1, refunded))
    problems = compare_owned(
        kind=Account.Kind.MERCHANT_ANOMALY,
        owner_type=Account.OwnerType.MERCHANT,
        expected={m: fen for m, fen in expected.items() if m is not None},
        describe=lambda m: f"anomaly funds of merchant {m} against its anomaly parts",
        detail=lambda m: f"parts booked {booked.get(m, 0)}, refunded {refunded.get(m, 0)}",
    )
    account_id, found = platform_balance(Account.Kind.MERCHANT_ANOMALY)
    if found != expected.get(None, 0):
        problems.append(
            disagreement(
                what="anomaly funds of sub_mchids none of our merchants have",
                account_id=account_id,
                expected=expected.get(None, 0),
                found=found,
            )
        )
    totals = grouped_fen(
        AnomalyPart.objects.all(), ("anomaly_id", "anomaly__reported_amount_fen"), "amount_fen"
    )
    for (anomaly_id, reported), parts in sorted(totals.items()):
        if parts != reported:
            problems.append(
                f"anomaly {anomaly_id}: reported {reported} fen, its parts add up to {parts} fen, "
                f"difference {parts - reported:+d} fen"
            )
    wrong = AnomalyPart.objects.filter(
        Q(amount_fen__gt=0, refund__isnull=True)
        | (Q(refund__isnull=False) & ~Q(refund__amount_fen=F("amount_fen")))
    )
    for pk, amount, refund_id, refunded_fen in wrong.order_by("pk").values_list(
        "pk", "amount_fen", "refund_id", "refund__amount_fen"
    ):
        problems.append(
            f"anomaly part {pk}: {amount} fen arrived, its refund "
            + (f"{refund_id} is of {refunded_fen} fen" if refund_id else "is missing")
        )
    orphans = Refund.objects.filter(
        purpose=ANOMALY_PURPOSE, payment__funds=Payment.Funds.SHARED, anomaly_part__isnull=True
    )
    for pk, amount in orphans.order_by("pk").values_list("pk", "amount_fen"):
        problems.append(
            f"refund {pk} of {amount} fen: a shared payment's anomaly refund with no anomaly part"
        )
    return problems

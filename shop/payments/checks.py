"""Payments, refunds and payouts reconciled with the gateway-side ledger accounts
(docs/design.md "Ledger"), for ``manage.py ledger_check``.

- **gateway clearing**: every succeeded payment took its amount from it (the purpose's
  receipt), an anomaly's refund took the money that arrived with it (a shared payment's
  anomaly: the merchant's anomaly funds, ``parts_anomalies.anomaly_funds_check``), and every succeeded
  refund and succeeded payout gave back what left through the gateway. So it holds
  − Σ succeeded payments − Σ anomaly refunds + Σ succeeded refunds + Σ succeeded payouts.
- **refund clearing**: a refund request puts its amount there; success takes it out, and
  so does the ``on_failed`` of a purpose that registered ``failed_money_returned`` (for
  its refused or closed refunds; abnormal ones stay). So it holds what is requested and
  not succeeded, less what such purposes took back.
- **payout clearing**: a purpose puts a payout's amount there when the gateway says it
  succeeded, and this app posts it out to the gateway in the same transaction: per
  payee, what came in and what went out each equal its succeeded payouts.
- **gateway fees** (``gateway_fees.gateway_fees_check``): WeChat's handling fees booked from
  the trade bills against their ``GatewayFee`` rows; the platform payments' fees also left
  gateway clearing (+ Σ their fees above).

Each is one or two ``GROUP BY`` queries, whatever the number of payments.
"""

from __future__ import annotations

from django.db.models import Count, F, Sum

from shop.ledger.checks import register_check
from shop.ledger.models import Account, Entry
from shop.ledger.reconcile import disagreement, fen_sum, grouped_fen, platform_balance

from .gateway_fees import platform_fees_total, register_fee_check
from .models import FundsStep, Payment, Payout, Refund
from .refunds import ANOMALY_PURPOSE
from .registry import refund_handlers_for

GATEWAY_CLEARING_CHECK = "payments: gateway clearing"
REFUND_CLEARING_CHECK = "payments: refund clearing"
PAYOUT_CLEARING_CHECK = "payouts: payout clearing"


def _confirmed(kind: str) -> int:
    return fen_sum(FundsStep.objects.filter(kind=kind, status=FundsStep.Status.CONFIRMED), "amount_fen")


def gateway_clearing_check() -> list[str]:
    """Shared payments never enter it (their money is the merchants', frozen at the gateway);
    the platform's subsidies leave through it and finished shares arrive in it."""
    paid = fen_sum(
        Payment.objects.filter(status=Payment.Status.SUCCEEDED, funds=Payment.Funds.PLATFORM), "amount_fen"
    )
    # A shared payment's anomaly arrived in (and is refunded from) the merchants' funds:
    # parts_anomalies' own check compares it with the merchant_anomaly accounts.
    platform_refunds = Refund.objects.filter(payment__funds=Payment.Funds.PLATFORM)
    anomalies = fen_sum(platform_refunds.filter(purpose=ANOMALY_PURPOSE), "amount_fen")
    # A shared payment's refunds leave the merchant's funds, not ours.
    refunded = fen_sum(platform_refunds.filter(status=Refund.Status.SUCCEEDED), "amount_fen")
    # … except what the platform advanced for them (垫付退款).
    refunded += fen_sum(
        Refund.objects.filter(status=Refund.Status.SUCCEEDED, part__isnull=False), "advance_fen"
    )
    paid_out = fen_sum(Payout.objects.filter(state=Payout.State.SUCCEEDED), "amount_fen")
    subsidies, shares = _confirmed(FundsStep.Kind.SUBSIDY), _confirmed(FundsStep.Kind.SHARE)
    subsidies -= _confirmed(FundsStep.Kind.SUBSIDY_RETURN)
    shares -= _confirmed(FundsStep.Kind.SHARE_RETURN)
    fees = platform_fees_total()  # WeChat's handling fees on platform payments left it
    expected = -paid - anomalies + refunded + paid_out + subsidies - shares + fees
    account_id, found = platform_balance(Account.Kind.GATEWAY_CLEARING)
    if found == expected:
        return []
    return [
        disagreement(
            what="gateway clearing",
            account_id=account_id,
            expected=expected,
            found=found,
            detail=(
                f"succeeded payments {paid}, anomaly refunds {anomalies}, "
                f"succeeded refunds {refunded}, succeeded payouts {paid_out}, "
                f"subsidies net of returns {subsidies}, shares net of returns {shares}, "
                f"platform payments' handling fees {fees}"
            ),
        )
    ]


def _returned_on_failure_fen() -> tuple[int, int]:
    """What purposes with ``failed_money_returned`` took back out of refund clearing:
    their refused and closed refunds (``(fen, count)``)."""
    rows = (
        Refund.objects.filter(status=Refund.Status.FAILED)
        .exclude(failure_kind=Refund.FailureKind.ABNORMAL)
        .order_by()
        .values("purpose")
        .annotate(fen=Sum("amount_fen"), n=Count("pk"))
    )
    fen = count = 0
    for row in rows:  # one row per purpose, not per refund
        if refund_handlers_for(row["purpose"]).failed_money_returned:
            fen += row["fen"]
            count += row["n"]
    return fen, count


def refund_clearing_check() -> list[str]:
    owed = fen_sum(Refund.objects.exclude(status=Refund.Status.SUCCEEDED), "amount_fen")
    returned, returned_count = _returned_on_failure_fen()
    expected = owed - returned
    account_id, found = platform_balance(Account.Kind.REFUND_CLEARING)
    if found == expected:
        return []
    return [
        disagreement(
            what="refund clearing",
            account_id=account_id,
            expected=expected,
            found=found,
            detail=(
                f"refunds not succeeded {owed}, of which {returned} "
                f"in {returned_count} returned to their purpose"
            ),
        )
    ]


def payout_clearing_check() -> list[str]:
    """Per payee: what went into payout clearing and what went out of it to the gateway
    (the entries on the payee's account, summed by sign) each equal the payee's
    succeeded payouts, so the account holds 0."""
    paid_out = grouped_fen(Payout.objects.filter(state=Payout.State.SUCCEEDED), "payee_id", "amount_fen")
    entries = Entry.objects.filter(
        account__kind=Account.Kind.PAYOUT_CLEARING, account__owner_type=Account.OwnerType.USER
    )
    credited = grouped_fen(entries.filter(amount_fen__gt=0), "account__owner_id", "amount_fen")
    debited = grouped_fen(entries.filter(amount_fen__lt=0), "account__owner_id", -F("amount_fen"))
    problems = []
    for payee_id in sorted(paid_out.keys() | credited.keys() | debited.keys()):
        want = paid_out.get(payee_id, 0)
        for what, found in (("moved in by its purpose", credited), ("posted out to the gateway", debited)):
            have = found.get(payee_id, 0)
            if have != want:
                problems.append(
                    f"payout clearing of user {payee_id}, {what}: expected {want} fen (its succeeded "
                    f"payouts), found {have} fen, difference {have - want:+d} fen"
                )
    return problems


def register_ledger_checks() -> None:
    from .parts_anomalies import ANOMALY_FUNDS_CHECK, anomaly_funds_check
    from .sharing_checks import register_sharing_checks

    register_sharing_checks()
    register_check(name=ANOMALY_FUNDS_CHECK, run=anomaly_funds_check)
    register_fee_check()
    register_check(name=GATEWAY_CLEARING_CHECK, run=gateway_clearing_check)
    register_check(name=REFUND_CLEARING_CHECK, run=refund_clearing_check)
    register_check(name=PAYOUT_CLEARING_CHECK, run=payout_clearing_check)

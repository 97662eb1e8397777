"""Refunds for any purpose, through the gateway the money came in by.

The pipeline (the same shape as a merchant's deposit refund):

1. ``refund_request`` — inside the caller's transaction: lock the payment, check the cap,
   record the ``Refund`` and move the money from the caller's accounts into
   ``refund_clearing`` (owed back, not yet sent). The gateway call is enqueued on commit.
2. ``refund_send`` — outside any transaction: one gateway call (no lock held across it),
   then ``refund_apply`` with the answer. Transient errors (network, 5xx, 429) keep the
   refund in flight; the sweeper asks again after a minute.
3. ``refund_apply`` — the gateway's answer or a verified refund callback, applied once:
   ``SUCCESS`` moves the money from ``refund_clearing`` to ``gateway_clearing``;
   ``CLOSED``, ``ABNORMAL`` or a refusal (4xx other than 429) fail it and the money stays
   in ``refund_clearing``: ops' queue (admin) — unless the purpose registered
   ``failed_money_returned`` and its ``on_failed`` posted a refused or closed refund's money
   back where it came from (a merchant's deposit refund). Final refunds never change on
   later news.
4. ``refund_resend`` — ops, after fixing the cause, send a failed refund again (never one
   whose money its purpose took back).

Why money can never go out twice: the gateway refunds one ``out_refund_no`` at most once,
so every retry and every resend of a refused refund reuses its number (WeChat's own rule:
resubmit a failed refund under its original number). Only a refund the gateway itself
reported ``CLOSED`` (final at the gateway, nothing paid) gets a new number on resend; the
old one is retired and news about it is never applied. An ``ABNORMAL`` refund (the money
left but the buyer's account refused it) is never resent: ops handle it at the gateway.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from shop.errors import ApplicationError, ValidationFailed
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post

from .errors import (
    PaymentNotRefundable,
    RefundCallbackMismatch,
    RefundExceedsPayment,
    RefundKeyReused,
    RefundNotFound,
    RefundNotResendable,
)
from .gateways.base import GatewayError
from .gateways.registry import gateway_get
from .locks import payment_qs_for_update, refund_qs_for_update
from .models import Payment, PaymentAnomaly, PaymentPart, Refund, RetiredRefundNumber
from .registry import refund_handlers_for

logger = logging.getLogger("shop.payments.refunds")

ANOMALY_PURPOSE = "payment_anomaly"
RETRY_AFTER = timedelta(minutes=1)  # a refund still in flight is asked about again after this
SWEEP_BATCH = 200
REFUSED = "REFUSED"  # our status word for "the gateway refused the request" (a 4xx answer)
_FAILURES = {
    REFUSED: Refund.FailureKind.REFUSED,
    "CLOSED": Refund.FailureKind.CLOSED,
    "ABNORMAL": Refund.FailureKind.ABNORMAL,
}


def refund_clearing() -> AccountRef:
    return AccountRef.platform(Account.Kind.REFUND_CLEARING)


def _gateway_clearing() -> AccountRef:
    return AccountRef.platform(Account.Kind.GATEWAY_CLEARING)


def _new_out_refund_no() -> str:
    # WeChat: 6-64 chars of letters, digits and _-|*@, unique per merchant. Sortable by time.
    return "RF" + timezone.now().strftime("%y%m%d%H%M%S") + secrets.token_hex(8)


def _is_refusal(exc: GatewayError) -> bool:
    """4xx other than 429: the gateway said no, and saying it again will not change that."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


def _cap(*, payment: Payment, purpose: str, ref_id: int | None) -> tuple[int, QuerySet[Refund]]:
    """What may be refunded in all (the transaction's total) and the refunds counted against it.

    A payment's own refunds are capped by its amount. An anomaly's money (a callback we
    did not apply: wrong amount, or paid after close) is capped by what actually arrived.
    """
    if purpose == ANOMALY_PURPOSE:
        anomaly = PaymentAnomaly.objects.filter(pk=ref_id, payment=payment).first()
        if anomaly is None:
            raise RefundNotFound("No such payment anomaly.", anomaly_id=ref_id)
        return anomaly.reported_amount_fen, payment.refunds.filter(purpose=ANOMALY_PURPOSE, ref_id=ref_id)
    if payment.status != Payment.Status.SUCCEEDED:
        raise PaymentNotRefundable(payment_id=payment.pk, status=payment.status)
    return payment.amount_fen, payment.refunds.exclude(purpose=ANOMALY_PURPOSE)


def _taken(refunds: QuerySet[Refund]) -> int:
    return refunds.exclude(status=Refund.Status.FAILED).aggregate(s=Sum("amount_fen"))["s"] or 0


def _enqueue_send(refund_id: int) -> None:
    from .tasks import refund_send_task

    # robust: a broker hiccup must not fail the caller's committed work; the sweeper sends it.
    transaction.on_commit(partial(refund_send_task.delay, refund_id), robust=True)


def refund_request(
    *,
    payment_id: int,
    amount_fen: int,
    purpose: str,
    ref_id: int | None,
    reason: str,
    key: str,
    debits: list[tuple[AccountRef, int]],
    order_id: int | None = None,
) -> Refund:
    """Ask for ``amount_fen`` of a payment back, for ``purpose``. Called INSIDE the caller's
    transaction; the gateway is called after commit.

    Locks the payment row (lock-then-decide: concurrent refunds of one payment queue here),
    so the cap holds under any concurrency: the payment must have succeeded, and its
    non-failed refunds plus this one may not exceed its amount (``RefundExceedsPayment``,
    409, nothing written). Purpose ``payment_anomaly`` is the one exception: ``ref_id``
    names the payment's anomaly and the cap is the money that arrived with it.

    Idempotent by ``key``: the same key returns the existing refund and writes nothing
    (a different refund under a used key is ``RefundKeyReused``, 409).

    One balanced ledger transaction (``refund:<pk>:requested``): each ``(account, fen)`` of
    ``debits`` gives its amount (they add up to ``amount_fen``), ``refund_clearing`` receives it.
    """
    if amount_fen <= 0:
        raise ValidationFailed(fields={"amount_fen": ["Must be more than 0 fen."]})
    if sum(fen for _, fen in debits) != amount_fen or any(fen < 0 for _, fen in debits):
        raise ValueError(f"refund debits must be positive and add up to {amount_fen} fen")
    if not key:
        raise ValueError("a refund needs the caller's idempotency key")
    with transaction.atomic():
        payment = payment_qs_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise RefundNotFound("No such payment.", payment_id=payment_id)
        existing = Refund.objects.filter(key=key).first()
        if existing is not None:
            if (existing.payment_id, existing.amount_fen, existing.purpose, existing.ref_id) != (
                payment.pk,
                amount_fen,
                purpose,
                ref_id,
            ):
                raise RefundKeyReused(key=key, refund_id=existing.pk)
            return existing
        part = None
        if payment.is_shared and purpose != ANOMALY_PURPOSE:
            # A shared payment is refunded per sub-order, from that merchant's funds.
            part = PaymentPart.objects.filter(payment=payment, order_id=order_id).first()
            if part is None:
                raise RefundNotFound("No such part of the payment.", order_id=order_id)
        cap_fen, counted = _cap(payment=payment, purpose=purpose, ref_id=ref_id)
        if part is not None:
            cap_fen, counted = part.amount_fen, counted.filter(part=part)
        taken = _taken(counted)
        if taken + amount_fen > cap_fen:
            raise RefundExceedsPayment(
                f"{amount_fen} fen cannot be refunded: {taken} of {cap_fen} fen is refunded or on its way.",
                payment_id=payment.pk,
            )
        refund = Refund.objects.create(
            payment=payment,
            part=part,
            purpose=purpose,
            ref_id=ref_id,
            amount_fen=amount_fen,
            total_fen=cap_fen,
            key=key,
            out_refund_no=_new_out_refund_no(),
            reason=reason[:80],
        )
        ledger_post(
            key=f"refund:{refund.pk}:requested",
            kind="refund_requested",
            lines=[*((account, -fen) for account, fen in debits), (refund_clearing(), amount_fen)],
            memo=f"Refund {refund.out_refund_no} of payment {payment.out_trade_no} ({purpose})",
            ref_type="refund",
            ref_id=refund.pk,
        )
        _enqueue_send(refund.pk)
    return refund


def refund_send(*, refund_id: int, now: datetime | None = None) -> Refund:
    """Send one refund to the gateway and apply its answer. Outside any transaction (no lock
    is held across the gateway call). Safe to repeat and to run concurrently: the gateway
    refunds one ``out_refund_no`` at most once, and a final refund is left alone."""
    now = now or timezone.now()
    refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is None:
        raise RefundNotFound(refund_id=refund_id)
    if refund.status not in Refund.IN_FLIGHT:
        return refund
    number = refund.out_refund_no
    if refund.part_id is not None or refund.payment.is_shared:  # a sub-order's, or an anomaly part's
        from .parts_refunds import refund_send_shared

        return refund_send_shared(refund=refund, now=now)
    Refund.objects.filter(pk=refund.pk).update(attempts=F("attempts") + 1, last_attempt_at=now)
    try:
        answer = gateway_get(refund.payment.gateway).refund(
            out_trade_no=refund.payment.out_trade_no,
            out_refund_no=number,
            refund_fen=refund.amount_fen,
            total_fen=refund.total_fen,
            reason=refund.reason,
        )
    except GatewayError as exc:
        if _is_refusal(exc):
            return refund_apply(
                out_refund_no=number,
                status=REFUSED,
                reason=f"{exc.wechat_code or exc.status}: {exc.message}",
                now=now,
            )
        logger.warning("refund %s not sent yet (will retry): %s", number, exc.message)
        refund.refresh_from_db()
        return refund
    except ApplicationError as exc:  # e.g. the gateway is not configured here: ops must see it
        logger.error("refund %s cannot be sent: %s", number, exc.message)
        refund.refresh_from_db()
        return refund
    return refund_apply(
        out_refund_no=number,
        status=str(answer.get("status", "")),
        gateway_refund_id=str(answer.get("refund_id", "")),
        now=now,
    )


@transaction.atomic
def refund_apply(
    *,
    out_refund_no: str,
    status: str,
    gateway_refund_id: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> Refund:
    """Apply what the gateway says of a refund (its answer, or a verified callback), once.

    ``SUCCESS`` settles it (``refund:<pk>:succeeded``: refund clearing → gateway clearing) and
    runs the purpose's ``on_succeeded``; ``PROCESSING`` waits; ``CLOSED``, ``ABNORMAL`` and
    ``REFUSED`` (and any status we do not know) fail it, the money stays in refund clearing
    and ``on_failed`` runs. Locks the refund row; a final refund ignores later news, and
    news about a retired number (replaced on resend) is recognised and ignored.
    """
    now = now or timezone.now()
    refund = refund_qs_for_update().filter(out_refund_no=out_refund_no).first()
    if refund is None:
        retired = RetiredRefundNumber.objects.select_related("refund").filter(out_refund_no=out_refund_no)
        if (old := retired.first()) is not None:
            logger.info("news %s about retired refund number %s ignored", status, out_refund_no)
            return old.refund
        logger.warning("news %s about unknown refund %s", status, out_refund_no)
        raise RefundNotFound(out_refund_no=out_refund_no)
    if refund.status not in Refund.IN_FLIGHT:
        if status == "SUCCESS" and refund.status == Refund.Status.FAILED:
            logger.error("refund %s reported successful after it failed: ops, check it", out_refund_no)
        return refund
    refund.gateway_refund_id = gateway_refund_id or refund.gateway_refund_id
    if status == "PROCESSING":
        refund.status = Refund.Status.PROCESSING
        refund.save(update_fields=["status", "gateway_refund_id", "updated_at"])
        return refund
    handlers = refund_handlers_for(refund.purpose)
    refund.finished_at = now
    if status == "SUCCESS":
        if refund.part_id is not None or refund.payment.is_shared:  # from a merchant's funds
            from .parts_refunds import refund_from_frozen_post

            refund_from_frozen_post(refund)
        else:
            ledger_post(
                key=f"refund:{refund.pk}:succeeded",
                kind="refund_succeeded",
                lines=[(refund_clearing(), -refund.amount_fen), (_gateway_clearing(), refund.amount_fen)],
                memo=f"Refund {out_refund_no} paid out by the gateway",
                ref_type="refund",
                ref_id=refund.pk,
            )
        refund.status = Refund.Status.SUCCEEDED
        refund.save(update_fields=["status", "gateway_refund_id", "finished_at", "updated_at"])
        if handlers.on_succeeded:
            handlers.on_succeeded(refund)
        return refund
    refund.status = Refund.Status.FAILED
    refund.failure_kind = _FAILURES.get(status, Refund.FailureKind.REFUSED)
    refund.failure_reason = f"{status} {reason}".strip()[:255]
    refund.save(
        update_fields=[
            "status",
            "gateway_refund_id",
            "failure_kind",
            "failure_reason",
            "finished_at",
            "updated_at",
        ]
    )
    logger.error(
        "refund %s failed (%s): waiting for ops in refund clearing", out_refund_no, refund.failure_reason
    )
    if handlers.on_failed:
        handlers.on_failed(refund)
    return refund


def refund_apply_notice(*, gateway: str, notice: dict) -> Refund:
    """A verified refund callback of ``gateway`` (``parse_refund_callback``'s dict), applied once.

    It must be about one of this gateway's refunds, of its payment and its amount; otherwise
    nothing is written (unknown: ``RefundNotFound``; not matching: ``RefundCallbackMismatch``).
    """
    number = notice["out_refund_no"]
    refund = Refund.objects.select_related("payment").filter(out_refund_no=number).first()
    if refund is None:
        retired = RetiredRefundNumber.objects.select_related("refund__payment").filter(out_refund_no=number)
        refund = old.refund if (old := retired.first()) is not None else None
    if refund is None:
        logger.warning("refund callback via %s for unknown refund %s", gateway, number)
        raise RefundNotFound(out_refund_no=number)
    if (refund.payment.gateway, refund.payment.out_trade_no, refund.amount_fen) != (
        gateway,
        notice["out_trade_no"],
        notice["refund_fen"],
    ):
        logger.error(
            "refund callback via %s does not match refund %s: %s", gateway, number, notice.get("raw")
        )
        raise RefundCallbackMismatch(out_refund_no=number)
    return refund_apply(out_refund_no=number, status=notice["status"], gateway_refund_id=notice["refund_id"])


def refund_resend(*, refund_id: int, now: datetime | None = None) -> Refund:
    """Ops send a failed refund again, after fixing what made it fail (e.g. topping up the
    merchant account). Refused (409) unless it failed, when it is abnormal (handled at the
    gateway, where the money already is), when its purpose took its money back
    (``failed_money_returned``), or when other refunds of the payment took its room meanwhile.
    A refused refund keeps its number (the gateway refunds it at most once); a closed one
    gets a new number and the old one is retired. The call goes out after commit."""
    now = now or timezone.now()
    with transaction.atomic():
        payment_id = Refund.objects.filter(pk=refund_id).values_list("payment_id", flat=True).first()
        if payment_id is None:
            raise RefundNotFound(refund_id=refund_id)
        payment = payment_qs_for_update().get(pk=payment_id)  # lock order: payment, then refund
        refund = refund_qs_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.FAILED:
            raise RefundNotResendable(
                f"Refund {refund.out_refund_no} is {refund.get_status_display().lower()}."
            )
        if refund.failure_kind == Refund.FailureKind.ABNORMAL:
            raise RefundNotResendable(
                "WeChat reports this refund as abnormal: the money left but the buyer's bank account "
                "refused it. Handle it on the WeChat Pay merchant platform (异常退款), not by resending."
            )
        if refund_handlers_for(refund.purpose).failed_money_returned:
            raise RefundNotResendable(
                f"The money of this failed refund went back where it came from ({refund.purpose}); "
                "it is not waiting in refund clearing. Start a new refund there instead."
            )
        cap_fen, counted = _cap(payment=payment, purpose=refund.purpose, ref_id=refund.ref_id)
        if _taken(counted.exclude(pk=refund.pk)) + refund.amount_fen > cap_fen:
            raise RefundExceedsPayment("Other refunds of this payment took its room meanwhile.")
        fields = ["status", "failure_kind", "finished_at", "resends", "updated_at"]
        if refund.failure_kind == Refund.FailureKind.CLOSED:
            RetiredRefundNumber.objects.create(refund=refund, out_refund_no=refund.out_refund_no)
            refund.out_refund_no = _new_out_refund_no()
            fields.append("out_refund_no")
        refund.status = Refund.Status.PENDING
        refund.failure_kind = ""
        refund.finished_at = None
        refund.resends += 1
        refund.save(update_fields=fields)
        logger.info("refund %s sent again by ops (was: %s)", refund.out_refund_no, refund.failure_reason)
        _enqueue_send(refund.pk)
    return refund


def refunds_in_flight_due(now: datetime) -> Iterable[int]:
    """Refunds still in flight a minute after their last gateway call (or their creation)."""
    stale = now - RETRY_AFTER
    return list(
        Refund.objects.filter(status__in=Refund.IN_FLIGHT)
        .filter(Q(last_attempt_at__lte=stale) | Q(last_attempt_at__isnull=True, created_at__lte=stale))
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def refunds_sweep(now: datetime) -> int:
    """Beat's minute tick (and ``run_sweepers``): resend (= ask again about) every refund
    still in flight a minute on. Failed refunds are left to ops. Returns how many it sent."""
    due = refunds_in_flight_due(now)
    for refund_id in due:
        refund_send(refund_id=refund_id, now=now)
    return len(due)

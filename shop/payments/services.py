"""Creating payments and applying what the gateway tells us, exactly once."""

from __future__ import annotations

import logging
import secrets
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.errors import Conflict, NotFound
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post

from .gateways.base import PaymentResult
from .gateways.registry import gateway_get
from .models import Payment, PaymentAnomaly
from .registry import handler_for

logger = logging.getLogger("shop.payments")


class PaymentNotClosable(Conflict):
    code = "payment_not_closable"


class PaymentClosed(Conflict):
    code = "payment_closed"
    default_message = "This payment was closed (its order was cancelled); it can no longer be paid."


def _new_out_trade_no() -> str:
    # 6-32 chars, letters and digits, unique (WeChat's rule); time prefix keeps it sortable.
    return timezone.now().strftime("%y%m%d%H%M%S") + secrets.token_hex(8)


def payment_create(
    *, purpose: str, payer_id: int, amount_fen: int, gateway: str, description: str, ref_id: int | None = None
) -> Payment:
    """A payment waiting for the payer. The caller creates it in its own transaction."""
    gateway_get(gateway)  # unknown or disabled gateway fails before anything is written
    return Payment.objects.create(
        purpose=purpose,
        payer_id=payer_id,
        amount_fen=amount_fen,
        gateway=gateway,
        out_trade_no=_new_out_trade_no(),
        description=description[:127],
        ref_id=ref_id,
    )


def payment_client_params(*, payment: Payment, openid: str | None) -> dict:
    """What the client needs to pay. May call the gateway: never call it under a lock."""
    return gateway_get(payment.gateway).prepay(payment, openid=openid)


class Applied(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ANOMALY = "anomaly"
    NOT_SUCCESS = "not_success"


def payment_apply_result(*, gateway: str, result: PaymentResult) -> Applied:
    """Apply a verified gateway result exactly once.

    - unknown payment: ``NotFound``, nothing written;
    - already applied: ``DUPLICATE`` (gateways retry for 24 h: answer success);
    - amount mismatch or paid after close: recorded as an anomaly for ops, nothing paid;
    - otherwise the payment is marked paid, the money enters the ledger and the
      purpose's handler runs, all in one transaction.
    """
    if not result.succeeded:
        return Applied.NOT_SUCCESS
    try:
        with transaction.atomic(durable=True):
            return _apply_locked(gateway=gateway, result=result)
    except IntegrityError:
        # Another delivery of the same anomaly won a unique race: it is recorded once.
        return Applied.DUPLICATE


def _apply_locked(*, gateway: str, result: PaymentResult) -> Applied:
    payment = (
        Payment.objects.select_for_update(no_key=True)
        .filter(out_trade_no=result.out_trade_no, gateway=gateway)
        .first()
    )
    if payment is None:
        logger.warning("callback for unknown payment %s via %s", result.out_trade_no, gateway)
        raise NotFound("No such payment.", out_trade_no=result.out_trade_no)

    if payment.status == Payment.Status.SUCCEEDED:
        if payment.gateway_txn_id != result.transaction_id:
            logger.error(
                "payment %s paid twice (%s, %s)", payment.pk, payment.gateway_txn_id, result.transaction_id
            )
        return Applied.DUPLICATE

    anomaly = None
    if result.amount_fen != payment.amount_fen:
        anomaly = PaymentAnomaly.Kind.AMOUNT_MISMATCH
    elif payment.status == Payment.Status.CLOSED:
        anomaly = PaymentAnomaly.Kind.PAID_AFTER_CLOSE
    if anomaly is not None:
        _, created = PaymentAnomaly.objects.get_or_create(
            gateway_txn_id=result.transaction_id,
            kind=anomaly,
            defaults={"payment": payment, "reported_amount_fen": result.amount_fen, "payload": result.raw},
        )
        if created:
            logger.error("payment anomaly %s on %s: %s fen", anomaly, payment.out_trade_no, result.amount_fen)
        return Applied.ANOMALY

    payment.status = Payment.Status.SUCCEEDED
    payment.gateway_txn_id = result.transaction_id
    payment.paid_at = timezone.now()
    payment.save(update_fields=["status", "gateway_txn_id", "paid_at", "updated_at"])
    handler_for(payment.purpose)(payment)
    return Applied.APPLIED


def gateway_clearing() -> AccountRef:
    return AccountRef.platform(Account.Kind.GATEWAY_CLEARING)


def payment_post_receipt(*, payment: Payment, credits: list[tuple[AccountRef, int]], kind: str) -> None:
    """Post the money a payment brought in: the gateway clearing account gives it, the
    purpose's accounts receive it (``credits`` must add up to the payment's amount)."""
    if sum(amount for _, amount in credits) != payment.amount_fen:
        raise ValueError(f"credits do not add up to payment {payment.pk}'s amount")
    ledger_post(
        key=f"payment:{payment.pk}:received",
        kind=kind,
        lines=[(gateway_clearing(), -payment.amount_fen), *credits],
        memo=f"Payment {payment.out_trade_no}",
        ref_type="payment",
        ref_id=payment.pk,
    )


@transaction.atomic
def payment_close(*, payment_id: int) -> Payment:
    """Close an unpaid payment (the order was cancelled). Closing twice is a no-op.

    The sandbox needs no gateway call; the real gateway's close is called by the
    caller after this commits (no network under a lock).
    """
    payment = Payment.objects.select_for_update(no_key=True).filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("No such payment.")
    if payment.status == Payment.Status.CLOSED:
        return payment
    if not payment.can_move_to(Payment.Status.CLOSED):
        raise PaymentNotClosable("This payment is already paid.")
    payment.status = Payment.Status.CLOSED
    payment.closed_at = timezone.now()
    payment.save(update_fields=["status", "closed_at", "updated_at"])
    return payment

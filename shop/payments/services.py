"""Creating payments and applying what the gateway tells us, exactly once."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.db import insert_rows
from shop.errors import ApplicationError, NotFound
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, ledger_post

from .errors import PaymentNotClosable, PaymentNotPaid
from .gateways.base import GatewayError, PaymentResult
from .gateways.registry import gateway_get
from .models import Payment, PaymentAnomaly, PaymentPart
from .refunds import ANOMALY_PURPOSE, refund_request
from .registry import handler_for

logger = logging.getLogger("shop.payments")


def _new_out_trade_no() -> str:
    # 6-32 chars, letters and digits, unique (WeChat's rule); time prefix keeps it sortable.
    return timezone.now().strftime("%y%m%d%H%M%S") + secrets.token_hex(8)


def payment_create(
    *,
    purpose: str,
    payer_id: int,
    amount_fen: int,
    gateway: str,
    description: str,
    ref_id: int | None = None,
    funds: str = Payment.Funds.PLATFORM,
) -> Payment:
    """A payment waiting for the payer. The caller creates it in its own transaction; a
    ``shared`` payment's caller adds its parts (``parts.payment_parts_create``)."""
    gateway_get(gateway)  # unknown or disabled gateway fails before anything is written
    payment = Payment(
        purpose=purpose,
        funds=funds,
        payer_id=payer_id,
        amount_fen=amount_fen,
        gateway=gateway,
        out_trade_no=_new_out_trade_no(),
        description=description[:127],
        ref_id=ref_id,
    )
    insert_rows([payment])  # every checkout makes one: the hand-written insert (shop/db.py)
    return payment


def payment_client_params(*, payment: Payment, openid: str | None, parts: list | None = None) -> dict:
    """What the client needs to pay. ``parts``: a shared payment's parts when the caller holds
    them (``parts.payment_parts_prepay``). May call the gateway: never call it under a lock."""
    if payment.is_shared:
        from .parts import payment_parts_prepay

        return payment_parts_prepay(payment=payment, openid=openid, parts=parts)
    return gateway_get(payment.gateway).prepay(payment, openid=openid)


def payment_code_url(*, payment: Payment) -> str:
    """The ``code_url`` a desktop page shows as a QR code for the payer to scan with WeChat
    (the merchant console's deposit payment). May call the gateway: never under a lock."""
    return gateway_get(payment.gateway).prepay_code_url(payment)


class Applied(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ANOMALY = "anomaly"
    NOT_SUCCESS = "not_success"


def payment_apply_result(*, gateway: str, result: PaymentResult) -> Applied:
    """Apply a verified gateway result exactly once.

    - unknown payment, or a shared one (paid into its merchants' funds: only the e-commerce
      notification applies it): ``NotFound``, nothing written;
    - already applied: ``DUPLICATE`` (gateways retry for 24 h: answer success);
    - amount mismatch or paid after close: recorded as an anomaly for ops, nothing paid;
      the money that did arrive is booked and refunded in full, once per anomaly;
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
        .filter(out_trade_no=result.out_trade_no, gateway=gateway, funds=Payment.Funds.PLATFORM)
        .first()
    )
    if payment is None:
        # A shared payment is paid into its merchants' funds and applied only from the
        # e-commerce notification (parts.payment_apply_ecommerce), never as ours.
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
        recorded, created = PaymentAnomaly.objects.get_or_create(  # unique per gateway transaction
            gateway_txn_id=result.transaction_id,
            kind=anomaly,
            defaults={"payment": payment, "reported_amount_fen": result.amount_fen, "payload": result.raw},
        )
        if created:
            logger.error("payment anomaly %s on %s: %s fen", anomaly, payment.out_trade_no, result.amount_fen)
            _anomaly_refund(recorded)
        return Applied.ANOMALY

    payment.status = Payment.Status.SUCCEEDED
    payment.gateway_txn_id = result.transaction_id
    payment.paid_at = timezone.now()
    payment.save(update_fields=["status", "gateway_txn_id", "paid_at", "updated_at"])
    handler_for(payment.purpose)(payment)
    return Applied.APPLIED


ANOMALY_REFUND_REASON = "支付异常，原路退回"  # WeChat shows it to the payer


def _anomaly_refund(anomaly: PaymentAnomaly) -> None:
    """Book the money that arrived with an anomaly and send it all back, in the transaction
    that records the anomaly (so exactly once: the anomaly is unique per gateway transaction,
    and the refund key is the anomaly's). Nothing is marked paid."""
    if anomaly.reported_amount_fen <= 0:
        return
    anomaly.refund = refund_request(
        payment_id=anomaly.payment_id,
        amount_fen=anomaly.reported_amount_fen,
        purpose=ANOMALY_PURPOSE,
        ref_id=anomaly.pk,
        reason=ANOMALY_REFUND_REASON,
        key=f"payment-anomaly:{anomaly.pk}",
        # The gateway clearing account gives what came in; refund clearing holds it until sent.
        debits=[(gateway_clearing(), anomaly.reported_amount_fen)],
    )
    anomaly.save(update_fields=["refund", "updated_at"])


def anomaly_refund_succeeded(refund) -> None:
    """Refund handler of purpose ``payment_anomaly``: the anomaly is settled once refunded."""
    PaymentAnomaly.objects.filter(pk=refund.ref_id).update(is_resolved=True, updated_at=timezone.now())


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

    Called inside the caller's transaction; after it commits, a task closes the payment at
    the gateway too (no network under a lock). If the payer paid meanwhile, that money
    arrives as a paid-after-close anomaly and is refunded automatically.
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
    from .tasks import payment_close_at_gateway_task

    transaction.on_commit(partial(payment_close_at_gateway_task.delay, payment.pk), robust=True)
    return payment


class Closed(StrEnum):
    CLOSED = "closed"
    PAID_MEANWHILE = "paid_meanwhile"
    NOT_CLOSED_HERE = "not_closed_here"
    REFUSED = "refused"


def _transient(exc: GatewayError) -> bool:
    return exc.status is None or exc.status >= 500 or exc.status == 429


def payment_close_at_gateway(*, payment_id: int) -> Closed:
    """Close a closed payment at the gateway as well. Outside any transaction; idempotent
    (closing twice succeeds at the gateway). Transient gateway errors are raised for the task
    to retry; a refusal is logged. If the gateway says it was paid meanwhile (``ORDERPAID``),
    its result is queried and applied: it lands as a paid-after-close anomaly and is refunded."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("No such payment.", payment_id=payment_id)
    if payment.status != Payment.Status.CLOSED:
        return Closed.NOT_CLOSED_HERE
    if payment.is_shared:
        from .parts import payment_parts_close_at_gateway

        try:
            return Closed(payment_parts_close_at_gateway(payment=payment))
        except GatewayError as exc:
            if _transient(exc):
                raise
            logger.error("shared payment %s could not be closed at the gateway: %s", payment.pk, exc.message)
            return Closed.REFUSED
    gateway = gateway_get(payment.gateway)
    try:
        gateway.close(payment.out_trade_no)
    except GatewayError as exc:
        if exc.wechat_code == "ORDERPAID":
            result = gateway.query(payment.out_trade_no)  # transient errors: the task retries
            if result is not None and result.succeeded:
                payment_apply_result(gateway=gateway.name, result=result)
            else:
                logger.error("payment %s: ORDERPAID on close, but the query shows no payment", payment.pk)
            return Closed.PAID_MEANWHILE
        if _transient(exc):
            raise
        logger.error("payment %s could not be closed at the gateway: %s", payment.pk, exc.message)
        return Closed.REFUSED
    return Closed.CLOSED


QUERY_WINDOW = timedelta(hours=24)  # older unpaid payments are long dead at the gateway
QUERY_BATCH = 200


def payments_query_sweep(now: datetime) -> int:
    """Beat's minute tick: ask the gateway about payments still unpaid ``PAYMENT_QUERY_AFTER``
    after creation (a lost callback), in a batch, and apply any success through
    ``payment_apply_result`` (once, as a callback would be). No lock is held across a gateway
    call. Returns how many were found paid."""
    due = list(
        Payment.objects.filter(
            status=Payment.Status.CREATED,
            created_at__lte=now - settings.PAYMENT_QUERY_AFTER,
            created_at__gte=now - QUERY_WINDOW,
        )
        .order_by("created_at", "pk")
        .values_list("gateway", "out_trade_no", "funds", "pk")[:QUERY_BATCH]
    )
    paid = 0
    for gateway_name, out_trade_no, funds, payment_id in due:
        if funds == Payment.Funds.SHARED:
            paid += _query_shared(payment_id)
            continue
        try:
            result = gateway_get(gateway_name).query(out_trade_no)
        except ApplicationError as exc:  # gateway down or not configured: the next tick asks again
            logger.warning("payment %s could not be queried: %s", out_trade_no, exc.message)
            continue
        if result is not None and result.succeeded:
            payment_apply_result(gateway=gateway_name, result=result)
            paid += 1
    return paid


def _query_shared(payment_id: int) -> int:
    from .parts import payment_apply_ecommerce, payment_parts_query

    payment = Payment.objects.get(pk=payment_id)
    try:
        result = payment_parts_query(payment=payment)
    except ApplicationError as exc:
        logger.warning("shared payment %s could not be queried: %s", payment.out_trade_no, exc.message)
        return 0
    if result is not None and result.succeeded:
        payment_apply_ecommerce(gateway=payment.gateway, result=result)
        return 1
    return 0


def payment_upload_shipping(
    *,
    payment_id: int,
    carrier: str,
    tracking_no: str,
    item_desc: str,
    order_id: int | None = None,
    pickup: bool = False,
) -> None:
    """Tell the gateway a paid payment's goods shipped (WeChat holds mini-program goods' money
    until then), with the payer's openid; ``pickup``: the buyer collects them (用户自提, its
    own logistics type). ``GatewayError`` is raised for the task to retry; uploading again is
    accepted by WeChat as a correction. A shared payment's shipments go through the
    e-commerce gateway per sub-order (``order_id``'s part): the combined form for a combined
    payment, the sub-order's own transaction for a partner payment."""
    payment = Payment.objects.select_related("payer").filter(pk=payment_id).first()
    if payment is None:
        raise NotFound("No such payment.", payment_id=payment_id)
    shipment = {
        "openid": payment.payer.openid or "",
        "carrier": carrier,
        "tracking_no": tracking_no,
        "item_desc": item_desc,
        "pickup": pickup,
    }
    if payment.is_shared:
        _upload_shared_shipping(payment=payment, order_id=order_id, shipment=shipment)
        return
    if payment.status != Payment.Status.SUCCEEDED or not payment.gateway_txn_id:
        raise PaymentNotPaid(payment_id=payment_id)
    gateway_get(payment.gateway).upload_shipping_info(transaction_id=payment.gateway_txn_id, **shipment)


def _upload_shared_shipping(*, payment: Payment, order_id: int | None, shipment: dict) -> None:
    from .gateways.ecommerce import ecommerce_gateway_get

    parts = list(PaymentPart.objects.filter(payment=payment).order_by("pk"))
    part = next((p for p in parts if p.order_id == order_id), None)
    if payment.status != Payment.Status.SUCCEEDED or part is None or not part.transaction_id:
        raise PaymentNotPaid(payment_id=payment.pk)
    ecommerce_gateway_get(payment.gateway).upload_shipping_info(
        sub_mchid=part.sub_mchid,
        out_trade_no=part.out_trade_no,
        transaction_id=part.transaction_id,
        combine_out_trade_no=payment.out_trade_no if len(parts) > 1 else None,
        **shipment,
    )

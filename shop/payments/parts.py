"""Shared payments (docs/merchant-money.md): one ``PaymentPart`` per order, paid straight into
its merchant's frozen funds at the e-commerce gateway (平台收付通).

One part is a partner JSAPI payment; several (≤ 50) are one combined payment whose
``combine_out_trade_no`` is the payment's ``out_trade_no``, closed only as a whole. A part's
``out_trade_no`` is derived from the payment's (the same number for a single part, the
payment's number and a two-digit index for a combined one), so it is ours and unique.
The callback applies every part at once, exactly once, under the payment's row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.db import insert_rows
from shop.errors import NotFound, ValidationFailed

from .gateways.base import GatewayError
from .gateways.ecommerce import MAX_SUB_ORDERS, EcommercePayment, SubOrder, ecommerce_gateway_get
from .models import Payment, PaymentAnomaly, PaymentPart
from .parts_anomalies import anomaly_parts_refund
from .registry import handler_for

logger = logging.getLogger("shop.payments")


@dataclass(frozen=True, slots=True)
class PartSpec:
    """What a checkout declares for one order of a shared payment."""

    order_id: int
    merchant_id: int
    sub_mchid: str
    amount_fen: int
    subsidy_fen: int = 0


class TooManySubOrders(ValidationFailed):
    default_message = f"One payment can pay at most {MAX_SUB_ORDERS} merchants; split the basket."


def payment_parts_create(*, payment: Payment, specs: list[PartSpec]) -> list[PaymentPart]:
    """The parts of a shared payment, in the caller's (checkout's) transaction. Their amounts
    must add up to the payment's."""
    if not 1 <= len(specs) <= MAX_SUB_ORDERS:
        raise TooManySubOrders()
    if sum(s.amount_fen for s in specs) != payment.amount_fen:
        raise ValueError(f"parts do not add up to payment {payment.pk}'s amount")
    single = len(specs) == 1
    parts = [
        PaymentPart(
            payment=payment,
            order_id=spec.order_id,
            merchant_id=spec.merchant_id,
            sub_mchid=spec.sub_mchid,
            out_trade_no=payment.out_trade_no if single else f"{payment.out_trade_no}{index:02d}",
            amount_fen=spec.amount_fen,
            subsidy_fen=spec.subsidy_fen,
        )
        for index, spec in enumerate(specs, start=1)
    ]
    insert_rows(parts)  # on every shared checkout's path: the hand-written insert (shop/db.py)
    return parts


def _sub_orders(payment: Payment, parts: list[PaymentPart]) -> list[SubOrder]:
    return [
        SubOrder(
            sub_mchid=part.sub_mchid,
            out_trade_no=part.out_trade_no,
            amount_fen=part.amount_fen,
            description=payment.description,
            subsidy_fen=part.subsidy_fen,
        )
        for part in parts
    ]


def _parts(payment: Payment) -> list[PaymentPart]:
    return list(PaymentPart.objects.filter(payment=payment).order_by("pk"))


def payment_parts_prepay(
    *, payment: Payment, openid: str | None, parts: list[PaymentPart] | None = None
) -> dict:
    """The ``wx.requestPayment`` parameters of a shared payment: partner JSAPI for one part,
    combined for several. ``parts``: the payment's parts when the caller holds them (checkout
    has just written them), else they are read. Calls the gateway: never under a lock."""
    gateway = ecommerce_gateway_get(payment.gateway)
    sub_orders = _sub_orders(payment, parts if parts is not None else _parts(payment))
    if len(sub_orders) == 1:
        return gateway.partner_prepay(sub_order=sub_orders[0], openid=openid or "")
    return gateway.combine_prepay(
        combine_out_trade_no=payment.out_trade_no, sub_orders=sub_orders, openid=openid or ""
    )


def _payment_for(result: EcommercePayment) -> Payment | None:
    if result.combine_out_trade_no:
        return Payment.objects.filter(
            out_trade_no=result.combine_out_trade_no, funds=Payment.Funds.SHARED
        ).first()
    if len(result.parts) != 1:
        return None
    part = (
        PaymentPart.objects.select_related("payment")
        .filter(out_trade_no=result.parts[0].out_trade_no)
        .first()
    )
    return part.payment if part else None


def payment_apply_ecommerce(*, gateway: str, result: EcommercePayment) -> str:
    """Apply a verified e-commerce payment notification (or query) exactly once: every part
    gets its ``transaction_id``, the payment is paid and its purpose's handler runs, in one
    transaction. Parts that differ from what we declared (amount, a missing or unknown part)
    or a payment closed meanwhile are recorded as an anomaly and nothing is paid; the money
    that arrived is booked and refunded in full, part by part from each merchant's funds,
    once per anomaly (``parts_anomalies``)."""
    from .services import Applied

    if not result.succeeded:
        return Applied.NOT_SUCCESS
    found = _payment_for(result)
    if found is None or found.gateway != gateway:
        logger.warning(
            "e-commerce callback for unknown payment %s", result.combine_out_trade_no or result.parts
        )
        raise NotFound("No such payment.")
    try:
        with transaction.atomic(durable=True):
            return _apply_locked(payment_id=found.pk, result=result)
    except IntegrityError:
        return Applied.DUPLICATE


def _apply_locked(*, payment_id: int, result: EcommercePayment) -> str:
    from .services import Applied

    payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
    if payment.status == Payment.Status.SUCCEEDED:
        return Applied.DUPLICATE
    parts = list(PaymentPart.objects.select_for_update(no_key=True).filter(payment=payment).order_by("pk"))
    declared = {p.out_trade_no: (p.sub_mchid, p.amount_fen) for p in parts}
    reported = {p.out_trade_no: (p.sub_mchid, p.amount_fen) for p in result.parts}
    first_txn = result.parts[0].transaction_id
    anomaly = None
    if declared != reported:
        anomaly = PaymentAnomaly.Kind.AMOUNT_MISMATCH
    elif payment.status == Payment.Status.CLOSED:
        anomaly = PaymentAnomaly.Kind.PAID_AFTER_CLOSE
    if anomaly is not None:
        recorded, created = PaymentAnomaly.objects.get_or_create(  # unique per transaction and kind
            gateway_txn_id=first_txn,
            kind=anomaly,
            defaults={
                "payment": payment,
                "reported_amount_fen": sum(p.amount_fen for p in result.parts),
                "payload": result.raw,
            },
        )
        if created:
            logger.error("shared payment anomaly %s on %s", anomaly, payment.out_trade_no)
            anomaly_parts_refund(anomaly=recorded, result=result, declared=parts)
        return Applied.ANOMALY
    txn_by_no = {p.out_trade_no: p.transaction_id for p in result.parts}
    for part in parts:
        part.transaction_id = txn_by_no[part.out_trade_no]
    PaymentPart.objects.bulk_update(parts, ["transaction_id", "updated_at"])
    payment.status = Payment.Status.SUCCEEDED
    payment.gateway_txn_id = first_txn if len(parts) == 1 else None  # a combined payment has one per part
    payment.paid_at = timezone.now()
    payment.save(update_fields=["status", "gateway_txn_id", "paid_at", "updated_at"])
    handler_for(payment.purpose)(payment)
    return Applied.APPLIED


def payment_parts_close_at_gateway(*, payment: Payment) -> str:
    """Close a closed shared payment at the gateway (the combined one as a whole). As
    ``payment_close_at_gateway``: ``ORDERPAID`` means it was paid meanwhile — the query's
    result is applied and lands as a paid-after-close anomaly."""
    gateway = ecommerce_gateway_get(payment.gateway)
    parts = _parts(payment)
    try:
        if len(parts) == 1:
            gateway.partner_close(sub_mchid=parts[0].sub_mchid, out_trade_no=parts[0].out_trade_no)
        else:
            gateway.combine_close(
                combine_out_trade_no=payment.out_trade_no, sub_orders=_sub_orders(payment, parts)
            )
    except GatewayError as exc:
        if exc.wechat_code == "ORDERPAID":
            result = payment_parts_query(payment=payment, parts=parts)
            if result is not None and result.succeeded:
                payment_apply_ecommerce(gateway=payment.gateway, result=result)
            return "paid_meanwhile"
        raise
    return "closed"


def payment_parts_query(
    *, payment: Payment, parts: list[PaymentPart] | None = None
) -> EcommercePayment | None:
    """What the gateway knows of a shared payment (the sweeper's question)."""
    gateway = ecommerce_gateway_get(payment.gateway)
    parts = parts if parts is not None else _parts(payment)
    if len(parts) == 1:
        return gateway.partner_query(sub_mchid=parts[0].sub_mchid, out_trade_no=parts[0].out_trade_no)
    return gateway.combine_query(payment.out_trade_no)


def payment_parts_sandbox_pay(payment: Payment) -> str:
    """``SANDBOX`` only: the buyer pays a shared payment at the sandbox 'bank'; its signed
    callback is applied in-process (as the sandbox pay endpoint does for the old gateway)."""
    from .gateways.ecommerce_sandbox import SandboxEcommerceGateway

    if payment_parts_query(payment=payment) is None:
        payment_parts_prepay(payment=payment, openid=None)  # the client would have
    gateway = SandboxEcommerceGateway()
    parts = _parts(payment)
    if len(parts) == 1:
        headers, body = gateway.simulate_payment(
            sub_mchid=parts[0].sub_mchid, out_trade_no=parts[0].out_trade_no
        )
    else:
        headers, body = gateway.simulate_payment(combine_out_trade_no=payment.out_trade_no)
    result = gateway.parse_payment_callback(headers=headers, body=body)
    return payment_apply_ecommerce(gateway="sandbox", result=result)

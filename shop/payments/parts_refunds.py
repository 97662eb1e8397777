"""Refunds of shared payments (docs/merchant-money.md "Refunds after the share"): each from
its sub-order's merchant funds at the e-commerce gateway, after the platform's share of it
was returned (the ``share_return`` step the refund's caller wrote waits first).

The refund is sent under its own ``out_refund_no`` (one per number at WeChat), with the
part's ``out_trade_no`` and amount as the total. On success the money leaves the merchant's
frozen funds (``refund_from_frozen``: refund clearing → merchant_frozen), and the refund's
``subsidy_return`` step, if any, may go. A merchant short of funds (``NOT_ENOUGH``) fails the
refund is advanced by the platform instead (垫付退款): the buyer is paid from the platform's
account and the amount is charged to the merchant's deposit (the purpose's ``on_succeeded``).

An anomaly's refund (``parts_anomalies``: no declared part, an ``AnomalyPart`` instead) is sent
the same way with the reported ``sub_mchid``, ``out_trade_no`` and amount, never advanced: a
merchant short of funds fails it, for ops' refund queue.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import F

from shop.errors import ApplicationError
from shop.ledger.services import ledger_post

from .gateways.base import GatewayError
from .gateways.ecommerce import NOT_ENOUGH, ecommerce_gateway_get
from .models import FundsStep, Refund
from .parts_anomalies import anomaly_part_of, refund_from_anomaly_post
from .services import gateway_clearing
from .steps_ledger import merchant_frozen

logger = logging.getLogger("shop.payments.refunds")


def _share_return_open(refund: Refund) -> bool:
    return FundsStep.objects.filter(
        refund_id=refund.pk, kind=FundsStep.Kind.SHARE_RETURN, status__in=FundsStep.OPEN
    ).exists()


def refund_send_shared(*, refund: Refund, now: datetime) -> Refund:
    """``refund_send`` of a shared payment's refund. Outside any transaction; safe to repeat."""
    from .refunds import REFUSED, _is_refusal, refund_apply

    if _share_return_open(refund):
        return refund  # the share comes back first; the sweeper sends the refund after it
    part = refund.part if refund.part_id is not None else anomaly_part_of(refund)
    number = refund.out_refund_no
    Refund.objects.filter(pk=refund.pk).update(attempts=F("attempts") + 1, last_attempt_at=now)
    gateway = ecommerce_gateway_get(refund.payment.gateway)
    try:
        if refund.status == Refund.Status.PROCESSING:
            answer = gateway.refund_query(sub_mchid=part.sub_mchid, out_refund_no=number)
            if answer is None:
                return refund
        else:
            answer = _refund_or_advance(gateway, refund, part, advance=refund.part_id is not None)
    except GatewayError as exc:
        if _is_refusal(exc):
            return refund_apply(
                out_refund_no=number,
                status=REFUSED,
                reason=f"{exc.wechat_code or exc.status}: {exc.message}",
                now=now,
            )
        logger.warning("shared refund %s not sent yet (will retry): %s", number, exc.message)
        refund.refresh_from_db()
        return refund
    except ApplicationError as exc:
        logger.error("shared refund %s cannot be sent: %s", number, exc.message)
        refund.refresh_from_db()
        return refund
    if answer.advance_fen:
        Refund.objects.filter(pk=refund.pk).update(advance_fen=answer.advance_fen)
    return refund_apply(
        out_refund_no=number, status=answer.status, gateway_refund_id=answer.refund_id, now=now
    )


def _refund_or_advance(gateway, refund: Refund, part, *, advance: bool):
    """From the merchant's funds; when they are short (``NOT_ENOUGH``), advanced by the
    platform under the same number (WeChat refunds one number once, either way) — unless
    ``advance`` is off (an anomaly's refund: nothing was sold, nothing to charge a deposit)."""
    args = {
        "sub_mchid": part.sub_mchid,
        "out_trade_no": part.out_trade_no,
        "out_refund_no": refund.out_refund_no,
        "refund_fen": refund.amount_fen,
        "total_fen": part.amount_fen,
        "reason": refund.reason,
    }
    try:
        return gateway.refund(**args)
    except GatewayError as exc:
        if exc.wechat_code != NOT_ENOUGH or not advance:
            raise
        logger.warning(
            "refund %s: the merchant's funds are short; the platform advances it", refund.out_refund_no
        )
        return gateway.advance_refund(**args)


def refund_from_frozen_post(refund: Refund) -> None:
    """In ``refund_apply``'s transaction: the buyer was paid from the merchant's funds, or
    (``advance_fen``) by the platform's advance, through the platform's gateway clearing.
    An anomaly's refund leaves the merchant's anomaly funds instead."""
    from .refunds import refund_clearing

    if refund.part_id is None:
        refund_from_anomaly_post(refund)
        return

    advance = Refund.objects.filter(pk=refund.pk).values_list("advance_fen", flat=True).get()
    refund.advance_fen = advance
    ledger_post(
        key=f"refund:{refund.pk}:succeeded",
        kind="refund_from_frozen" if advance < refund.amount_fen else "refund_advanced",
        lines=[
            (refund_clearing(), -refund.amount_fen),
            (merchant_frozen(refund.part.merchant_id), refund.amount_fen - advance),
            (gateway_clearing(), advance),
        ],
        memo=f"Refund {refund.out_refund_no} paid from the merchant's funds",
        ref_type="order",
        ref_id=refund.part.order_id,
    )

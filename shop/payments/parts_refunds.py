"""Refunds of shared payments (docs/merchant-money.md "Refunds after the share"): each from
its sub-order's merchant funds at the e-commerce gateway, after the platform's share of it
was returned (the ``share_return`` step the refund's caller wrote waits first).

The refund is sent under its own ``out_refund_no`` (one per number at WeChat), with the
part's ``out_trade_no`` and amount as the total. On success the money leaves the merchant's
frozen funds (``refund_from_frozen``: refund clearing → merchant_frozen), and the refund's
``subsidy_return`` step, if any, may go. A merchant short of funds (``NOT_ENOUGH``) fails the
refund for ops (the advance refund, 垫付退款, is not wired yet: see the report of issue 13).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import F

from shop.errors import ApplicationError
from shop.ledger.services import ledger_post

from .gateways.base import GatewayError
from .gateways.ecommerce import ecommerce_gateway_get
from .models import FundsStep, Refund
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
    part = refund.part
    number = refund.out_refund_no
    Refund.objects.filter(pk=refund.pk).update(attempts=F("attempts") + 1, last_attempt_at=now)
    gateway = ecommerce_gateway_get(refund.payment.gateway)
    try:
        if refund.status == Refund.Status.PROCESSING:
            answer = gateway.refund_query(sub_mchid=part.sub_mchid, out_refund_no=number)
            if answer is None:
                return refund
        else:
            answer = gateway.refund(
                sub_mchid=part.sub_mchid,
                out_trade_no=part.out_trade_no,
                out_refund_no=number,
                refund_fen=refund.amount_fen,
                total_fen=part.amount_fen,
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
        logger.warning("shared refund %s not sent yet (will retry): %s", number, exc.message)
        refund.refresh_from_db()
        return refund
    except ApplicationError as exc:
        logger.error("shared refund %s cannot be sent: %s", number, exc.message)
        refund.refresh_from_db()
        return refund
    return refund_apply(
        out_refund_no=number, status=answer.status, gateway_refund_id=answer.refund_id, now=now
    )


def refund_from_frozen_post(refund: Refund) -> None:
    """In ``refund_apply``'s transaction: the buyer was paid from the merchant's funds."""
    from .refunds import refund_clearing

    ledger_post(
        key=f"refund:{refund.pk}:succeeded",
        kind="refund_from_frozen",
        lines=[
            (refund_clearing(), -refund.amount_fen),
            (merchant_frozen(refund.part.merchant_id), refund.amount_fen),
        ],
        memo=f"Refund {refund.out_refund_no} paid from the merchant's funds",
        ref_type="order",
        ref_id=refund.part.order_id,
    )

"""Verified notifications of the e-commerce gateway (平台收付通) about refunds and shares,
applied through exactly the code polling uses, so a notice only makes the news earlier.

- A refund notice (``REFUND.SUCCESS`` / ``.CLOSED`` / ``.ABNORMAL``) of a shared payment's
  refund goes to ``refund_apply``, as ``refund_send_shared``'s query answer does: applied once
  under the refund's lock; a final refund ignores later news; a retired number is ignored.
- A profit-sharing notice (分账动账通知) confirms its ``FundsStep`` as polling's ``FINISHED``
  does (compare-and-set under the step's lock, the kind's handler posts the money):
  ``SUCCESS`` a share (its ``out_order_no``), ``RETURN`` a share return (its
  ``out_return_no``). WeChat only notifies money that moved (to or from the receiver, our
  platform account): a share it closes is never notified, so a notice never fails a step;
  polling still finds those.

Nothing is trusted beyond the signature: the notice must name one of our refunds or steps
(else ``404``, nothing written, as the other callbacks answer an unknown number) and agree
with it — gateway, secondary merchant, sub-order or transaction, amount, receiver — else
``409`` and an error log for ops, nothing written (WeChat retries; polling decides). A
duplicate or late notice changes nothing and is answered success, so WeChat stops.
"""

from __future__ import annotations

import logging

from django.db import transaction

from .errors import FundsStepNotFound, RefundCallbackMismatch, RefundNotFound, ShareCallbackMismatch
from .gateways.ecommerce import EcommerceRefund, ShareNotice, ecommerce_gateway_get
from .models import FundsStep, Refund, RetiredRefundNumber
from .refunds import refund_apply
from .steps import funds_step_confirm_if_open
from .steps_gateway import platform_mchid

logger = logging.getLogger("shop.payments.notices")

# WeChat's event (``PROFITSHARING.<event>``) → the kind of step it confirms.
SHARE_EVENT_KINDS = {"SUCCESS": FundsStep.Kind.SHARE, "RETURN": FundsStep.Kind.SHARE_RETURN}


def _refund_by_number(number: str) -> Refund | None:
    refund = Refund.objects.select_related("payment", "part").filter(out_refund_no=number).first()
    if refund is None:
        retired = RetiredRefundNumber.objects.select_related("refund__payment", "refund__part")
        old = retired.filter(out_refund_no=number).first()
        refund = old.refund if old is not None else None
    return refund


def ecommerce_refund_apply_notice(*, gateway: str, notice: EcommerceRefund) -> Refund:
    """Apply a verified refund notice of ``gateway``'s e-commerce adapter, once.

    It must be about a shared payment's refund of this gateway, with that sub-order's
    merchant and number and the refund's amount (an advance no larger than it); otherwise
    nothing is written (unknown: ``RefundNotFound``; not matching: ``RefundCallbackMismatch``).
    An advance the notice reports is recorded first, in the same transaction, so the money is
    booked from the platform's advance even when the notice beats the sender's own answer.
    """
    number = notice.out_refund_no
    refund = _refund_by_number(number)
    if refund is None:
        logger.warning("e-commerce refund notice via %s for unknown refund %s", gateway, number)
        raise RefundNotFound(out_refund_no=number)
    part = refund.part
    expected = None if part is None else (gateway, part.sub_mchid, part.out_trade_no, refund.amount_fen)
    reported = (refund.payment.gateway, notice.sub_mchid, notice.out_trade_no, notice.refund_fen)
    if expected != reported or notice.advance_fen > notice.refund_fen:
        logger.error(
            "e-commerce refund notice via %s does not match refund %s: %s", gateway, number, notice.raw
        )
        raise RefundCallbackMismatch(out_refund_no=number)
    with transaction.atomic():
        if notice.advance_fen:
            Refund.objects.filter(pk=refund.pk, out_refund_no=number, status__in=Refund.IN_FLIGHT).update(
                advance_fen=notice.advance_fen
            )
        return refund_apply(out_refund_no=number, status=notice.status, gateway_refund_id=notice.refund_id)


def ecommerce_share_apply_notice(*, gateway: str, notice: ShareNotice) -> str:
    """Confirm the share (``SUCCESS``) or share return (``RETURN``) a verified notice reports,
    once; the step's status afterwards.

    The step is ours by number (``FundsStepNotFound`` else); the notice must agree with it:
    its kind, gateway, secondary merchant and transaction, our platform account as the
    receiver, the step's amount (``ShareCallbackMismatch`` else, nothing written). A step
    already confirmed is a duplicate; one that failed (an ops case) is left to ops, logged.
    """
    step = FundsStep.objects.select_related("part__payment").filter(out_no=notice.out_order_no).first()
    if step is None:
        logger.warning("profit-sharing notice via %s for unknown step %s", gateway, notice.out_order_no)
        raise FundsStepNotFound(out_order_no=notice.out_order_no)
    part = step.part
    expected = (
        step.kind,
        part.payment.gateway,
        part.sub_mchid,
        part.transaction_id,
        "MERCHANT_ID",
        platform_mchid(ecommerce_gateway_get(gateway)),
        step.amount_fen,
    )
    reported = (
        SHARE_EVENT_KINDS.get(notice.event),
        gateway,
        notice.sub_mchid,
        notice.transaction_id,
        notice.receiver_type,
        notice.receiver_account,
        notice.amount_fen,
    )
    if expected != reported:
        logger.error(
            "profit-sharing notice via %s does not match step %s: %s", gateway, step.out_no, notice.raw
        )
        raise ShareCallbackMismatch(out_order_no=notice.out_order_no)
    status = funds_step_confirm_if_open(step_id=step.pk, gateway_id=notice.order_id)
    if status == FundsStep.Status.FAILED:
        logger.error("step %s reported done by WeChat after it failed: ops, check it", step.out_no)
    return status

"""The gateway call of each kind of funds step (``shop.payments.steps`` runs them): send a
``pending`` step, poll a ``processing`` one, and read the answer as the step's next status
and the gateway's number. No database write here: the caller records the outcome."""

from __future__ import annotations

from django.conf import settings

from .gateways.ecommerce import EcommerceGateway, ShareReceiver
from .models import FundsStep, Refund

Kind, Status = FundsStep.Kind, FundsStep.Status


def platform_mchid(gateway: EcommerceGateway) -> str:
    """The platform's own merchant account: the receiver of every share."""
    return (
        getattr(gateway, "platform_mchid", "")
        or settings.ECOMMERCE_PLATFORM_MCHID
        or settings.WECHATPAY["MCHID"]
    )


def step_send(gateway: EcommerceGateway, step: FundsStep) -> tuple[str, str]:
    part = step.part
    if step.kind == Kind.SUBSIDY:
        result = gateway.subsidy_create(
            sub_mchid=part.sub_mchid,
            transaction_id=part.transaction_id,
            amount_fen=step.amount_fen,
            description="平台优惠券补差",
            out_subsidy_no=step.out_no,
        )
        return (Status.CONFIRMED if result.result == "SUCCESS" else Status.FAILED), result.subsidy_id
    if step.kind == Kind.SHARE:
        share = gateway.profit_share_create(
            sub_mchid=part.sub_mchid,
            transaction_id=part.transaction_id,
            out_order_no=step.out_no,
            receivers=[
                ShareReceiver(
                    account=platform_mchid(gateway),
                    amount_fen=step.amount_fen,
                    description="平台佣金与服务费",
                )
            ],
            finish=False,  # the rest stays frozen until the order's last case has ended
        )
        return _share_outcome(share)
    if step.kind == Kind.UNFREEZE:
        share = gateway.profit_share_finish(
            sub_mchid=part.sub_mchid,
            transaction_id=part.transaction_id,
            out_order_no=step.out_no,
            description="订单完结，解冻剩余资金",
        )
        return _share_outcome(share)
    if step.kind == Kind.SHARE_RETURN:
        ret = gateway.profit_share_return_create(
            sub_mchid=part.sub_mchid,
            out_order_no=f"S{step.order_id}",
            out_return_no=step.out_no,
            return_mchid=platform_mchid(gateway),
            amount_fen=step.amount_fen,
            description="退款前回退分账",
            transaction_id=part.transaction_id,
        )
        return _return_outcome(ret.result), ret.return_no
    if step.kind == Kind.SUBSIDY_RETURN:
        refund = Refund.objects.get(pk=step.refund_id)
        done = gateway.subsidy_return(
            sub_mchid=part.sub_mchid,
            out_order_no=step.out_no,
            transaction_id=part.transaction_id,
            refund_id=refund.gateway_refund_id,
            amount_fen=step.amount_fen,
            description="退款退回补差",
        )
        return (Status.CONFIRMED if done.result == "SUCCESS" else Status.FAILED), done.subsidy_refund_id
    raise NotImplementedError(f"funds step kind {step.kind} is not sent yet")


def step_poll(gateway: EcommerceGateway, step: FundsStep) -> tuple[str, str]:
    part = step.part
    if step.kind in (Kind.SHARE, Kind.UNFREEZE):
        share = gateway.profit_share_query(
            sub_mchid=part.sub_mchid, transaction_id=part.transaction_id, out_order_no=step.out_no
        )
        if share is None:  # the gateway never got it: send again (same number)
            return Status.PENDING, step.gateway_id
        return _share_outcome(share)
    if step.kind == Kind.SHARE_RETURN:
        ret = gateway.profit_share_return_query(
            sub_mchid=part.sub_mchid, out_order_no=f"S{step.order_id}", out_return_no=step.out_no
        )
        if ret is None:
            return Status.PENDING, step.gateway_id
        return _return_outcome(ret.result), ret.return_no
    return step_send(gateway, step)  # subsidies answer at once: asking again is the same request


def _share_outcome(share) -> tuple[str, str]:
    if not share.finished:
        return Status.PROCESSING, share.order_id
    if any(r.result != "SUCCESS" for r in share.receivers):  # CLOSED: the money went back
        reason = "; ".join(r.fail_reason for r in share.receivers if r.fail_reason) or share.close_reason
        return Status.FAILED, f"share closed: {reason}"[:64]
    return Status.CONFIRMED, share.order_id


def _return_outcome(result: str) -> str:
    return {"SUCCESS": Status.CONFIRMED, "FAILED": Status.FAILED}.get(result, Status.PROCESSING)

"""Gateway steps that move a merchant's money (``FundsStep``): written in the deciding
transaction, sent after commit, polled while ``processing``, retried while ``pending``,
``failed`` for good as an ops case (docs/merchant-money.md).

Exactly once, whatever runs it:
- the gateway applies each ``out_no`` at most once (a resend answers as the first did);
- a sender first *claims* a due step with a conditional UPDATE (``next_attempt_at`` pushed
  a lease ahead), so the task and the sweeper do not send one step side by side;
- confirmation is a compare-and-set under the step's row lock, and the kind's handler
  (``STEP_CONFIRMED``, filled by the apps that own the money) posts under a key of the step.

Order at one sub-order: the subsidy before any share (and its returns), the share before its
returns, every share and return before the unfreeze. A step whose predecessor is still open
waits (``pending``, retried later).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from shop.registry import Registry

from .gateways.base import GatewayError
from .gateways.ecommerce import EcommerceGateway, ShareReceiver, ecommerce_gateway_get, retry_later
from .models import FundsStep, PaymentPart, Refund

logger = logging.getLogger("shop.payments.steps")

Kind, Status = FundsStep.Kind, FundsStep.Status

LEASE = timedelta(seconds=60)  # a claimed step is someone's for this long (a killed sender's comes back)
POLL_AFTER = timedelta(seconds=5)  # WeChat answers most shares within seconds
RETRY_AFTER = timedelta(seconds=30)  # rate-limited, not yet settled, WeChat's own error: back off
RETRY_AFTER_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 40  # about a day of backoff; beyond it the step is an ops case
SWEEP_BATCH = 500

# Who posts the money of a confirmed step, by kind: ``handler(step, result_fen)`` runs in the
# transaction that confirms it. ``shop.payments`` registers subsidy and unfreeze; ``rebates``
# the share (the settlement's moves); the refunds' kinds by ``orders``.
STEP_CONFIRMED: Registry[Callable[[FundsStep], None]] = Registry("funds step confirmation")

# Each kind waits for these kinds of the same sub-order to be confirmed (or failed) first.
_WAITS_FOR: dict[str, tuple[str, ...]] = {
    Kind.SHARE: (Kind.SUBSIDY,),
    Kind.SHARE_RETURN: (Kind.SHARE,),  # a refund during a share in flight: returned once finished
    Kind.SUBSIDY_RETURN: (Kind.SUBSIDY,),  # likewise a refund during a subsidy in flight
    Kind.UNFREEZE: (Kind.SUBSIDY, Kind.SHARE, Kind.SHARE_RETURN, Kind.SUBSIDY_RETURN),
}


def funds_steps_write(steps: list[FundsStep]) -> list[FundsStep]:
    """Record steps in the caller's transaction (ids derived from ours: a step already
    recorded is kept, not doubled) and send them after commit, one task per merchant."""
    if not steps:
        return []
    FundsStep.objects.bulk_create(steps, ignore_conflicts=True)
    ids = dict(FundsStep.objects.filter(out_no__in=[s.out_no for s in steps]).values_list("out_no", "pk"))
    by_merchant: dict[int, list[int]] = {}
    for step in steps:
        step.pk = ids[step.out_no]
        by_merchant.setdefault(step.merchant_id, []).append(step.pk)
    from .tasks import funds_steps_send_task

    for merchant_id in sorted(by_merchant):
        transaction.on_commit(partial(funds_steps_send_task.delay, by_merchant[merchant_id]), robust=True)
    return steps


def platform_mchid(gateway: EcommerceGateway) -> str:
    """The platform's own merchant account: the receiver of every share."""
    return (
        getattr(gateway, "platform_mchid", "")
        or settings.ECOMMERCE_PLATFORM_MCHID
        or settings.WECHATPAY["MCHID"]
    )


def _rate_wait(sub_mchid: str) -> None:
    """At most ``FUNDS_STEP_RATE_PER_S`` profit-sharing calls a second per secondary merchant,
    counted in the cache across every worker (WeChat allows 300 QPS per sub_mchid; we keep
    headroom for queries). Sleeps into the next second when the budget is spent."""
    limit = settings.FUNDS_STEP_RATE_PER_S
    while True:
        second = int(time.time())
        key = f"funds-step-rate:{sub_mchid}:{second}"
        cache.add(key, 0, timeout=5)
        if cache.incr(key) <= limit:
            return
        time.sleep(max(0.0, second + 1 - time.time()))


def _claim(step_id: int, now: datetime) -> FundsStep | None:
    """Take a due open step for one send or poll (conditional UPDATE: one sender at a time)."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = FundsStep.objects.filter(due, pk=step_id, status__in=FundsStep.OPEN).update(
        next_attempt_at=now + LEASE, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return FundsStep.objects.select_related("part").get(pk=step_id)


def funds_step_run(*, step_id: int, now: datetime | None = None) -> str:
    """Send (``pending``) or poll (``processing``) one step, if it is due; returns its status.
    Never under a lock; safe to run any number of times, side by side."""
    now = now or timezone.now()
    step = _claim(step_id, now)
    if step is None:
        return FundsStep.objects.filter(pk=step_id).values_list("status", flat=True).first() or "missing"
    if _waiting(step):
        _later(step, "waiting for an earlier step of the sub-order", now, backoff=False)
        return step.status
    gateway = ecommerce_gateway_get(step.part.payment.gateway)
    try:
        _rate_wait(step.part.sub_mchid)
        if step.status == Status.PENDING:
            outcome, gateway_id = _send(gateway, step)
        else:
            outcome, gateway_id = _poll(gateway, step)
    except GatewayError as exc:
        if retry_later(exc) and step.attempts < MAX_ATTEMPTS:
            _later(step, f"{exc.wechat_code or exc.status}: {exc.message}", now, backoff=True)
            return step.status
        return funds_step_fail(step_id=step.pk, error=f"{exc.wechat_code or exc.status}: {exc.message}")
    if outcome == Status.CONFIRMED:
        return funds_step_confirm(step_id=step.pk, gateway_id=gateway_id)
    if outcome == Status.FAILED:
        return funds_step_fail(step_id=step.pk, error=gateway_id or "refused by the gateway")
    # processing: poll soon (pending: the gateway has none under our number, send it again)
    FundsStep.objects.filter(pk=step.pk, status__in=FundsStep.OPEN).update(
        status=outcome, gateway_id=(gateway_id or step.gateway_id)[:64], next_attempt_at=now + POLL_AFTER
    )
    _enqueue_later(step.pk, POLL_AFTER)
    return outcome


def _waiting(step: FundsStep) -> bool:
    if (  # a subsidy return needs the refund WeChat made (its refund_id)
        step.kind == Kind.SUBSIDY_RETURN
        and not Refund.objects.filter(pk=step.refund_id, status=Refund.Status.SUCCEEDED).exists()
    ):
        return True
    if (
        step.kind == Kind.UNFREEZE
        and Refund.objects.filter(part_id=step.part_id, status__in=Refund.IN_FLIGHT).exists()
    ):
        return True  # a refund in flight is paid from the frozen funds first
    kinds = _WAITS_FOR.get(step.kind)
    if not kinds:
        return False
    return FundsStep.objects.filter(part_id=step.part_id, kind__in=kinds, status__in=FundsStep.OPEN).exists()


def _later(step: FundsStep, error: str, now: datetime, *, backoff: bool) -> None:
    delay = min(RETRY_AFTER * (2 ** min(step.attempts, 10)), RETRY_AFTER_MAX) if backoff else POLL_AFTER
    FundsStep.objects.filter(pk=step.pk, status__in=FundsStep.OPEN).update(
        next_attempt_at=now + delay, last_error=error[:255]
    )
    _enqueue_later(step.pk, delay)


def _enqueue_later(step_id: int, delay: timedelta) -> None:
    from .tasks import funds_step_run_task

    # After commit (at once when no transaction is open), so the task never sees the step
    # before its new time is written.
    transaction.on_commit(
        partial(funds_step_run_task.apply_async, (step_id,), countdown=delay.total_seconds()), robust=True
    )


def _send(gateway: EcommerceGateway, step: FundsStep) -> tuple[str, str]:
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


def _poll(gateway: EcommerceGateway, step: FundsStep) -> tuple[str, str]:
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
    return _send(gateway, step)  # subsidies answer at once: asking again is the same request


def _share_outcome(share) -> tuple[str, str]:
    if not share.finished:
        return Status.PROCESSING, share.order_id
    if any(r.result != "SUCCESS" for r in share.receivers):  # CLOSED: the money went back
        reason = "; ".join(r.fail_reason for r in share.receivers if r.fail_reason) or share.close_reason
        return Status.FAILED, f"share closed: {reason}"[:64]
    return Status.CONFIRMED, share.order_id


def _return_outcome(result: str) -> str:
    return {"SUCCESS": Status.CONFIRMED, "FAILED": Status.FAILED}.get(result, Status.PROCESSING)


def funds_step_confirm(*, step_id: int, gateway_id: str = "") -> str:
    """The gateway confirmed the step: mark it (compare-and-set under its lock) and let its
    kind's handler post the money, in one transaction. Confirming twice changes nothing."""
    with transaction.atomic(durable=True):
        step = FundsStep.objects.select_for_update(no_key=True).select_related("part").get(pk=step_id)
        if step.status == Status.CONFIRMED:
            return step.status
        step.status, step.confirmed_at, step.last_error = Status.CONFIRMED, timezone.now(), ""
        step.gateway_id = (gateway_id or step.gateway_id)[:64]
        step.save(update_fields=["status", "confirmed_at", "last_error", "gateway_id", "updated_at"])
        STEP_CONFIRMED.get(step.kind)(step)
    return Status.CONFIRMED


def funds_step_fail(*, step_id: int, error: str) -> str:
    """The step will not get better by retrying: it becomes a case for ops (admin "Failed
    gateway steps", with an action to send it again)."""
    FundsStep.objects.filter(pk=step_id, status__in=FundsStep.OPEN).update(
        status=Status.FAILED, last_error=error[:255], next_attempt_at=None, updated_at=timezone.now()
    )
    logger.error("funds step %s failed for good: %s", step_id, error)
    return Status.FAILED


def funds_step_retry(*, step_id: int) -> bool:
    """Ops send a failed step again (same ``out_no``: the gateway still applies it once)."""
    moved = FundsStep.objects.filter(pk=step_id, status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, next_attempt_at=None, updated_at=timezone.now()
    )
    if moved:
        from .tasks import funds_steps_send_task

        transaction.on_commit(partial(funds_steps_send_task.delay, [step_id]), robust=True)
    return bool(moved)


def funds_steps_sweep(now: datetime) -> int:
    """Beat's minute tick: every open step that is due (a lost task, a crash, a back-off that
    ended) is run again, one task per merchant. Returns how many were enqueued."""
    due = list(
        FundsStep.objects.filter(status__in=FundsStep.OPEN)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("merchant_id", "pk")
        .values_list("merchant_id", "pk")[:SWEEP_BATCH]
    )
    from .tasks import funds_steps_send_task

    by_merchant: dict[int, list[int]] = {}
    for merchant_id, step_id in due:
        by_merchant.setdefault(merchant_id, []).append(step_id)
    for step_ids in by_merchant.values():
        funds_steps_send_task.delay(step_ids)
    return len(due)


def funds_steps_send(*, step_ids: list[int]) -> dict[str, int]:
    """Run these steps (one merchant's, in id order): the per-merchant task's body."""
    counts: dict[str, int] = {}
    for step_id in sorted(step_ids):
        status = funds_step_run(step_id=step_id)
        counts[status] = counts.get(status, 0) + 1
    return counts


def part_for_order(order_id: int) -> PaymentPart | None:
    return PaymentPart.objects.filter(order_id=order_id).first()


def funds_step_confirm_if_open(*, step_id: int, gateway_id: str = "") -> str:
    """``funds_step_confirm`` for news that arrives on its own (a verified notification):
    under the step's lock, only an open step is confirmed; a confirmed one is a duplicate and
    a failed one (an ops case) is left to ops. Returns the step's status afterwards."""
    with transaction.atomic(durable=True):
        step = FundsStep.objects.select_for_update(no_key=True).select_related("part").get(pk=step_id)
        if step.status not in FundsStep.OPEN:
            return step.status
        step.status, step.confirmed_at, step.last_error = Status.CONFIRMED, timezone.now(), ""
        step.gateway_id = (gateway_id or step.gateway_id)[:64]
        step.save(update_fields=["status", "confirmed_at", "last_error", "gateway_id", "updated_at"])
        STEP_CONFIRMED.get(step.kind)(step)
    return Status.CONFIRMED

"""Gateway steps that move a merchant's money (``FundsStep``): written in the deciding
transaction, sent after commit, polled while ``processing``, retried while ``pending``,
``failed`` for good as an ops case (docs/merchant-money.md).

They run in batches: a sender task claims up to ``SEND_BATCH`` due steps with one
conditional UPDATE, sends or polls each (one gateway call each, at the merchant's rate),
then records the outcomes together — the still-processing ones with one UPDATE and one
delayed task for their next poll, the confirmed ones in one transaction whose handlers post
the money of the whole batch (one settlement batch for a batch of shares).

Exactly once, whatever runs it:
- the gateway applies each ``out_no`` at most once (a resend answers as the first did);
- a sender first *claims* due steps with a conditional UPDATE (``next_attempt_at`` pushed
  ``FUNDS_STEP_LEASE_S`` ahead), so the task and the sweeper do not send one step side by
  side; a killed sender's steps come back when the lease ends, and a batch that is still
  sending at half its lease hands the rest back rather than outlive it;
- confirmation is a compare-and-set under the steps' row locks (a step confirmed already is
  left alone), and the kind's handler (``STEP_CONFIRMED``, or ``STEPS_CONFIRMED`` for a whole
  batch, filled by the apps that own the money) posts under a key of the step.

Order at one sub-order: the subsidy before any share (and its returns), the share before its
returns, every share and return before the unfreeze. A step whose predecessor is still open
waits (``pending``, retried later); in a batch the check is made for every step at once,
before any is sent.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from shop.registry import Registry

from . import sql
from .gateways.base import GatewayError
from .gateways.ecommerce import FREQUENCY_LIMITED, EcommerceGateway, ecommerce_gateway_get, retry_later
from .models import FundsStep, PaymentPart, Refund
from .steps_gateway import step_poll, step_send

logger = logging.getLogger("shop.payments.steps")

Kind, Status = FundsStep.Kind, FundsStep.Status

POLL_AFTER = timedelta(seconds=5)  # WeChat answers most shares within seconds
RETRY_AFTER = timedelta(seconds=30)  # not yet settled, WeChat's own error: back off
RATE_RETRY_AFTER = timedelta(seconds=2)  # FREQUENCY_LIMITED: the next seconds have room again
RETRY_AFTER_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 40  # about a day of backoff; beyond it the step is an ops case
SWEEP_BATCH = 500
SEND_BATCH = 100  # steps claimed at once: at 250 calls/s well inside any lease
CALLS_IN_FLIGHT = 8  # a batch's gateway calls made at once (each still at the merchant's rate)
# The order in which a batch's confirmations are posted (a kind before those that wait for it).
_KIND_ORDER = (Kind.SUBSIDY, Kind.SHARE, Kind.SHARE_RETURN, Kind.SUBSIDY_RETURN, Kind.UNFREEZE)

# Who posts the money of a confirmed step, by kind: ``handler(step)`` runs in the
# transaction that confirms it. ``shop.payments`` registers subsidy and unfreeze; ``rebates``
# the share (the settlement's moves); the refunds' kinds by ``orders``. A kind may instead
# register ``STEPS_CONFIRMED`` (``handler(steps)``: a batch's steps of that kind at once),
# which is used when present.
STEP_CONFIRMED: Registry[Callable[[FundsStep], None]] = Registry("funds step confirmation")
STEPS_CONFIRMED: Registry[Callable[[list[FundsStep]], None]] = Registry("funds steps confirmation")

# Each kind waits for these kinds of the same sub-order to be confirmed (or failed) first.
_WAITS_FOR: dict[str, tuple[str, ...]] = {
    Kind.SHARE: (Kind.SUBSIDY,),
    Kind.SHARE_RETURN: (Kind.SHARE,),  # a refund during a share in flight: returned once finished
    Kind.SUBSIDY_RETURN: (Kind.SUBSIDY,),  # likewise a refund during a subsidy in flight
    Kind.UNFREEZE: (Kind.SUBSIDY, Kind.SHARE, Kind.SHARE_RETURN, Kind.SUBSIDY_RETURN),
}


def lease() -> timedelta:
    """How long a claimed step is its sender's (``FUNDS_STEP_LEASE_S``)."""
    return timedelta(seconds=settings.FUNDS_STEP_LEASE_S)


def funds_steps_write(steps: list[FundsStep]) -> list[FundsStep]:
    """Record steps in the caller's transaction (ids derived from ours: a step already
    recorded is kept, not doubled) and send them after commit: one task per ``SEND_BATCH``
    of them, in merchant then id order (a settlement batch of 200 orders is two messages,
    not one per merchant: publishing was a third of settlement's time). Each sender claims
    them in batches and keeps every merchant to its rate (``_rate_wait``, across workers)."""
    if not steps:
        return []
    _insert_new(steps)
    ids = dict(FundsStep.objects.filter(out_no__in=[s.out_no for s in steps]).values_list("out_no", "pk"))
    for step in steps:
        step.pk = ids[step.out_no]
    ordered = [s.pk for s in sorted(steps, key=lambda s: (s.merchant_id, s.pk))]
    from .tasks import funds_steps_send_task

    for start in range(0, len(ordered), SEND_BATCH):
        transaction.on_commit(
            partial(funds_steps_send_task.delay, ordered[start : start + SEND_BATCH]), robust=True
        )
    return steps


def _insert_new(steps: list[FundsStep]) -> None:
    """New steps, an ``out_no`` that exists already skipped (``sql.funds_steps_insert``)."""
    if connection.vendor != "postgresql":  # the embedded SQLite demo
        FundsStep.objects.bulk_create(steps, ignore_conflicts=True)
        return
    now = timezone.now()
    for step in steps:
        step.created_at = step.updated_at = now
    sql.funds_steps_insert(steps=steps)


def _rate_wait(sub_mchid: str) -> None:
    """At most ``FUNDS_STEP_RATE_PER_S`` profit-sharing calls a second per secondary merchant,
    counted in the cache across every worker (WeChat allows 300 QPS per sub_mchid for the
    share request; we keep headroom for queries). Sleeps into the next second when the
    budget is spent."""
    limit = settings.FUNDS_STEP_RATE_PER_S
    while True:
        second = int(time.time())
        key = f"funds-step-rate:{sub_mchid}:{second}"
        try:
            used = cache.incr(key)
        except ValueError:  # the second's first call
            cache.add(key, 0, timeout=5)
            used = cache.incr(key)
        if used <= limit:
            return
        time.sleep(max(0.0, second + 1 - time.time()))


def _claim(step_ids: list[int], now: datetime) -> dict[int, FundsStep]:
    """Take the due open steps among these, for one send or poll each (``sql.funds_steps_claim``:
    one sender at a time). Returns them by id, with part and payment."""
    if not step_ids:
        return {}
    claimed = sql.funds_steps_claim(step_ids=step_ids, now=now, until=now + lease())
    if not claimed:
        return {}
    return {s.pk: s for s in FundsStep.objects.select_related("part__payment").filter(pk__in=claimed)}


def funds_step_run(*, step_id: int, now: datetime | None = None) -> str:
    """Send (``pending``) or poll (``processing``) one step, if it is due; returns its status.
    Never under a lock; safe to run any number of times, side by side."""
    return _run_batch([step_id], now or timezone.now())[step_id]


def funds_steps_send(*, step_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Run these steps (one merchant's, in id order), ``SEND_BATCH`` at a time: the
    per-merchant task's body. Returns how many ended in each status."""
    ids = sorted(set(step_ids))
    counts: dict[str, int] = defaultdict(int)
    for start in range(0, len(ids), SEND_BATCH):
        for status in _run_batch(ids[start : start + SEND_BATCH], now or timezone.now()).values():
            counts[status] += 1
    return dict(counts)


WAITING = "waiting for an earlier step of the sub-order"


class _Later:
    """Steps to run again later, written with one UPDATE per (delay, reason) and enqueued
    with one delayed task per delay after commit."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.groups: dict[tuple[timedelta, str], list[int]] = defaultdict(list)

    def add(self, step: FundsStep, error: str, *, backoff: bool, rate_limited: bool = False) -> None:
        if rate_limited:
            delay = RATE_RETRY_AFTER
        elif backoff:
            # Doubling over a streak of errors; the first error after good answers (polls are
            # attempts too: a step polled three times is not three errors old) waits 30 s.
            streak = bool(step.last_error) and step.last_error != WAITING
            delay = (
                min(RETRY_AFTER * (2 ** min(step.attempts, 10)), RETRY_AFTER_MAX) if streak else RETRY_AFTER
            )
        else:
            delay = POLL_AFTER
        self.groups[(delay, error[:255])].append(step.pk)

    def flush(self) -> None:
        by_delay: dict[timedelta, list[int]] = defaultdict(list)
        for (delay, error), ids in self.groups.items():
            FundsStep.objects.filter(pk__in=ids, status__in=FundsStep.OPEN).update(
                next_attempt_at=self.now + delay, last_error=error
            )
            by_delay[delay] += ids
        for delay, ids in by_delay.items():
            _enqueue_later(sorted(ids), delay)


def _run_batch(step_ids: list[int], now: datetime) -> dict[int, str]:
    """Claim the due ones among these steps, make each one's gateway call, then record the
    outcomes together. Returns every given id's status (``missing`` if there is no such step)."""
    claimed = _claim(step_ids, now)
    statuses = {pk: step.status for pk, step in claimed.items()}
    others = [pk for pk in step_ids if pk not in claimed]
    if others:
        statuses.update(FundsStep.objects.filter(pk__in=others).values_list("pk", "status"))
    later = _Later(now)
    waiting = _waiting(list(claimed.values()))
    for step in waiting:
        later.add(step, WAITING, backoff=False)
    moved: dict[int, tuple[str, str]] = {}
    confirmed: dict[int, str] = {}
    failed: dict[int, str] = {}
    handed_back: list[int] = []
    to_call = sorted((s for s in claimed.values() if s not in waiting), key=lambda s: s.pk)
    for step, answer in _calls(to_call):
        if answer is None:  # not sent within half the lease: the rest goes back
            handed_back.append(step.pk)
            continue
        if isinstance(answer, GatewayError):
            error = f"{answer.wechat_code or answer.status}: {answer.message}"
            if retry_later(answer) and step.attempts < MAX_ATTEMPTS:
                later.add(step, error, backoff=True, rate_limited=answer.wechat_code == FREQUENCY_LIMITED)
            else:
                failed[step.pk] = error
            continue
        outcome, gateway_id = answer
        if outcome == Status.CONFIRMED:
            confirmed[step.pk] = gateway_id
        elif outcome == Status.FAILED:
            failed[step.pk] = gateway_id or "refused by the gateway"
        else:  # processing: poll soon (pending: the gateway has none under our number, resend)
            moved[step.pk] = (outcome, (gateway_id or step.gateway_id)[:64])
    later.flush()
    statuses.update(_record_moved(moved, now))
    for pk, error in failed.items():
        statuses[pk] = funds_step_fail(step_id=pk, error=error)
    statuses.update(funds_steps_confirm(confirmed))
    if handed_back:
        FundsStep.objects.filter(pk__in=handed_back, status__in=FundsStep.OPEN).update(next_attempt_at=None)
        _enqueue_later(handed_back, timedelta(0))
    return {pk: statuses.get(pk, "missing") for pk in step_ids}


def _calls(steps: list[FundsStep]) -> list[tuple[FundsStep, tuple[str, str] | GatewayError | None]]:
    """Each step's gateway call (send or poll), ``CALLS_IN_FLIGHT`` at a time: a call is
    mostly waiting on the gateway (WeChat's latency, the sandbox's Redis), so a batch of
    sequential calls would be bounded by latency, not by the merchant's rate. Each call
    keeps to the merchant's rate first. No database access in the calls (a subsidy return,
    which reads its refund, is called here, in the caller's thread). Answers, in step order:
    ``(status, gateway number)``, the ``GatewayError``, or None when half the lease went by
    before the call could be made (the step is handed back, not sent)."""
    gateways: dict[str, EcommerceGateway] = {}
    for step in steps:
        name = step.part.payment.gateway
        if name not in gateways:
            gateways[name] = ecommerce_gateway_get(name)
    deadline = time.monotonic() + lease().total_seconds() / 2

    def call(step: FundsStep) -> tuple[str, str] | GatewayError | None:
        if time.monotonic() > deadline:
            return None
        try:
            _rate_wait(step.part.sub_mchid)
            send = step_send if step.status == Status.PENDING else step_poll
            return send(gateways[step.part.payment.gateway], step)
        except GatewayError as exc:
            return exc

    local = [s for s in steps if s.kind == Kind.SUBSIDY_RETURN]
    threaded = [s for s in steps if s.kind != Kind.SUBSIDY_RETURN]
    answers = dict(zip(threaded, _pool().map(call, threaded), strict=True)) if len(threaded) > 1 else {}
    answers.update({s: call(s) for s in local + [s for s in threaded if s not in answers]})
    return [(step, answers[step]) for step in steps]


_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0


def _pool() -> ThreadPoolExecutor:
    """This process's threads for gateway calls (made after a prefork worker's fork)."""
    global _POOL, _POOL_PID  # noqa: PLW0603 - one pool per process
    if _POOL is None or os.getpid() != _POOL_PID:
        _POOL, _POOL_PID = ThreadPoolExecutor(CALLS_IN_FLIGHT, thread_name_prefix="funds-step"), os.getpid()
    return _POOL


def _record_moved(moved: dict[int, tuple[str, str]], now: datetime) -> dict[int, str]:
    """Steps still open after their call: their new status and gateway number, one UPDATE
    per status (only while still open: a concurrent sender may have confirmed one), and one
    delayed task to poll them all."""
    by_status: dict[str, list[int]] = defaultdict(list)
    for pk, (status, _) in moved.items():
        by_status[status].append(pk)
    for status, ids in by_status.items():
        _set_with_gateway_ids(
            {pk: moved[pk][1] for pk in ids},
            # a good answer ends a streak
            {"status": status, "next_attempt_at": now + POLL_AFTER, "last_error": ""},
            only_open=True,
        )
    if moved:
        _enqueue_later(sorted(moved), POLL_AFTER)
    return {pk: status for pk, (status, _) in moved.items()}


def _set_with_gateway_ids(gateway_ids: dict[int, str], values: dict, *, only_open: bool = False) -> None:
    """Each step its own ``gateway_id`` and all ``values``, in one statement on PostgreSQL
    (``sql.funds_steps_set``)."""
    if connection.vendor != "postgresql":  # the embedded SQLite demo: a statement per step
        scope = {"status__in": FundsStep.OPEN} if only_open else {}
        for pk, number in gateway_ids.items():
            FundsStep.objects.filter(pk=pk, **scope).update(gateway_id=number, **values)
        return
    sql.funds_steps_set(gateway_ids=gateway_ids, values=values, only_open=only_open)


def _waiting(steps: list[FundsStep]) -> set[FundsStep]:
    """The steps that must wait for another of their sub-order (a fixed number of queries)."""
    if not steps:
        return set()
    parts = {s.part_id for s in steps}
    open_kinds: dict[int, set[str]] = defaultdict(set)
    if any(s.kind in _WAITS_FOR for s in steps):
        for part_id, kind in (
            FundsStep.objects.filter(part_id__in=parts, status__in=FundsStep.OPEN)
            .values_list("part_id", "kind")
            .distinct()
        ):
            open_kinds[part_id].add(kind)
    refunding: set[int] = set()
    if any(s.kind == Kind.UNFREEZE for s in steps):  # a refund in flight is paid from frozen funds first
        refunding = set(
            Refund.objects.filter(part_id__in=parts, status__in=Refund.IN_FLIGHT).values_list(
                "part_id", flat=True
            )
        )
    refunded: set[int] = set()
    if any(s.kind == Kind.SUBSIDY_RETURN for s in steps):  # needs the refund WeChat made (its refund_id)
        refunded = set(
            Refund.objects.filter(
                pk__in=[s.refund_id for s in steps if s.kind == Kind.SUBSIDY_RETURN],
                status=Refund.Status.SUCCEEDED,
            ).values_list("pk", flat=True)
        )
    waiting = set()
    for step in steps:
        needs_refund = step.kind == Kind.SUBSIDY_RETURN and step.refund_id not in refunded
        refund_first = step.kind == Kind.UNFREEZE and step.part_id in refunding
        if needs_refund or refund_first:
            wait = True
        else:
            wait = bool(open_kinds[step.part_id] & set(_WAITS_FOR.get(step.kind, ())))
        if wait:
            waiting.add(step)
    return waiting


def _enqueue_later(step_ids: list[int], delay: timedelta) -> None:
    from .tasks import funds_steps_send_task

    # After commit (at once when no transaction is open), so the task never sees the steps
    # before their new time is written. One task for the batch, not one per step.
    transaction.on_commit(
        partial(funds_steps_send_task.apply_async, (step_ids,), countdown=delay.total_seconds()), robust=True
    )


def funds_step_confirm(*, step_id: int, gateway_id: str = "") -> str:
    """The gateway confirmed the step: mark it (compare-and-set under its lock) and let its
    kind's handler post the money, in one transaction. Confirming twice changes nothing."""
    return _confirm_batch({step_id: gateway_id})[step_id]


def funds_steps_confirm(confirmed: dict[int, str]) -> dict[int, str]:
    """The gateway confirmed these steps (``{id: gateway number}``): all of them in one
    transaction (``_confirm_batch``). Should that fail (one step's handler raising), each is
    confirmed in its own, so one bad step holds up no other; the first error is raised after
    (the bad step stays open, under its lease, for the sweeper)."""
    if len(confirmed) <= 1:
        return _confirm_batch(confirmed) if confirmed else {}
    try:
        return _confirm_batch(confirmed)
    except Exception:
        logger.exception(
            "confirming %s funds steps at once failed; confirming them one by one", len(confirmed)
        )
    statuses, first_error = {}, None
    for pk, gateway_id in sorted(confirmed.items()):
        try:
            statuses.update(_confirm_batch({pk: gateway_id}))
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others
            logger.exception("funds step %s: confirmation failed", pk)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return statuses


def _confirm_batch(confirmed: dict[int, str], *, only_open: bool = False) -> dict[int, str]:
    """Mark the steps confirmed (compare-and-set under their row locks, taken in id order)
    and run their kinds' handlers, all in one transaction. ``only_open``: a failed step (an
    ops case) is left as it is. Returns each step's status afterwards."""
    with transaction.atomic(durable=True):
        steps = list(
            FundsStep.objects.select_for_update(no_key=True, of=("self",))
            .select_related("part")
            .filter(pk__in=list(confirmed))
            .order_by("pk")
        )
        fresh = [
            s for s in steps if (s.status in FundsStep.OPEN if only_open else s.status != Status.CONFIRMED)
        ]
        now = timezone.now()
        for step in fresh:
            step.status, step.confirmed_at, step.last_error, step.updated_at = Status.CONFIRMED, now, "", now
            step.gateway_id = (confirmed[step.pk] or step.gateway_id)[:64]
        if fresh:
            _set_with_gateway_ids(
                {s.pk: s.gateway_id for s in fresh},
                {"status": Status.CONFIRMED, "confirmed_at": now, "last_error": "", "updated_at": now},
            )
        by_kind: dict[str, list[FundsStep]] = defaultdict(list)
        for step in fresh:
            by_kind[step.kind].append(step)
        for kind in sorted(
            by_kind, key=lambda k: _KIND_ORDER.index(k) if k in _KIND_ORDER else len(_KIND_ORDER)
        ):
            many = STEPS_CONFIRMED.find(kind)
            if many is not None:
                many(by_kind[kind])
            else:
                for step in by_kind[kind]:
                    STEP_CONFIRMED.get(kind)(step)
    missing = {pk: "missing" for pk in confirmed}
    return {**missing, **{s.pk: Status.CONFIRMED if s in fresh else s.status for s in steps}}


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


def part_for_order(order_id: int) -> PaymentPart | None:
    return PaymentPart.objects.filter(order_id=order_id).first()


def funds_step_confirm_if_open(*, step_id: int, gateway_id: str = "") -> str:
    """``funds_step_confirm`` for news that arrives on its own (a verified notification):
    under the step's lock, only an open step is confirmed; a confirmed one is a duplicate and
    a failed one (an ops case) is left to ops. Returns the step's status afterwards."""
    return _confirm_batch({step_id: gateway_id}, only_open=True)[step_id]

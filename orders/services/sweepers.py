"""Periodic jobs of orders (registered in ``OrdersConfig.ready``), each re-deriving due
work from the database and handling each order in its own short transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from orders.errors import IllegalOrderTransition
from orders.models import AfterSale, Order, Pickup, Team
from shop.errors import ApplicationError

from .after_sales import after_sale_apply_deadline, after_sale_warn_merchant
from .coupons import coupons_give_back_failed_teams
from .lifecycle import order_cancel, order_complete, order_confirm_receipt
from .refunds import order_refund_full
from .teams import team_fail

logger = logging.getLogger("orders.sweepers")
BATCH = 500
TEAM_BATCH = 200
# A run takes batch after batch until nothing is due or this much time is spent: one batch
# a minute (the beat's tick) completed at most 500 orders a minute — 3 h 20 min for a sale
# day's 100,000 (bench/results/settlement.md). The budget keeps a run inside its tick.
TIME_BUDGET_SECONDS = 15


def _sweep(due, handle: Callable[[int], bool]) -> int:
    """``handle`` each due order or case (ids in pk order, a batch at a time, each batch after the
    last id seen, so a refused order is not retried in the same run); how many it did."""
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    done, after = 0, 0
    while True:
        order_ids = list(due.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:BATCH])
        done += sum(1 for order_id in order_ids if handle(order_id))
        if len(order_ids) < BATCH or time.monotonic() >= deadline:
            return done
        after = order_ids[-1]


def _refused(action: str, order_id: int, error: IllegalOrderTransition) -> bool:
    # Its state moved between the selection and the lock (paid while timing out, a case
    # opened): the order is simply not due any more.
    logger.info("order %s not %s: %s", order_id, action, error)
    return False


def orders_cancel_unpaid(now: datetime) -> int:
    """Unpaid past the deadline (15 min default): cancel, release stock, close the payment."""

    def cancel(order_id: int) -> bool:
        try:
            order_cancel(order_id=order_id, note="Not paid in time")
        except IllegalOrderTransition as error:
            return _refused("cancelled", order_id, error)
        return True

    return _sweep(Order.objects.filter(status=Order.Status.PENDING_PAYMENT, pay_deadline_at__lte=now), cancel)


def orders_confirm_receipt_due(now: datetime) -> int:
    """Shipped long enough ago (10 days default): received automatically. Not parcels bound
    for a pickup point: ``pickups_confirm_uncollected`` counts from their arrival."""
    cutoff = now - settings.SHOP_RULES["AUTO_RECEIPT_AFTER"]

    def confirm(order_id: int) -> bool:
        try:
            order_confirm_receipt(order_id=order_id, now=now)
        except IllegalOrderTransition as error:
            return _refused("received", order_id, error)
        return True

    due = Order.objects.filter(status=Order.Status.SHIPPED, shipped_at__lte=cutoff, pickup_point__isnull=True)
    return _sweep(due, confirm)


def pickups_confirm_uncollected(now: datetime) -> int:
    """Parcels at a pickup point nobody collected: received automatically 7 days (default)
    after the leader marked them arrived. A parcel the leader never marked arrived is
    received when an ordinary parcel would be plus those 7 days, so no order waits forever.
    The parcel stays redeemable: the buyer may still collect it."""
    rules = settings.SHOP_RULES
    arrived_before = now - rules["PICKUP_AUTO_RECEIPT_AFTER"]
    shipped_before = now - rules["AUTO_RECEIPT_AFTER"] - rules["PICKUP_AUTO_RECEIPT_AFTER"]

    def confirm(order_id: int) -> bool:
        try:
            order_confirm_receipt(order_id=order_id, now=now)
        except IllegalOrderTransition as error:
            return _refused("received", order_id, error)
        return True

    due = Order.objects.filter(status=Order.Status.SHIPPED, pickup_point__isnull=False).filter(
        Q(pickup__status=Pickup.Status.READY, pickup__arrived_at__lte=arrived_before)
        | Q(pickup__status=Pickup.Status.AWAITING_PARCEL, shipped_at__lte=shipped_before)
    )
    return _sweep(due, confirm)


def orders_complete_due(now: datetime) -> int:
    """After-sales window closed (7 days after receipt) and no case open: completed, handed
    to settlement. An order with an open case completes once the case is decided."""
    open_case = AfterSale.objects.filter(order=OuterRef("pk"), status__in=AfterSale.OPEN)

    def complete(order_id: int) -> bool:
        try:
            order_complete(order_id=order_id, now=now)
        except IllegalOrderTransition as error:
            return _refused("completed", order_id, error)
        return True

    due = Order.objects.filter(status=Order.Status.RECEIVED, after_sales_closes_at__lte=now).exclude(
        Exists(open_case)
    )
    return _sweep(due, complete)


def teams_expire_due(now: datetime) -> int:
    """Fail open teams past their window, then cancel the unpaid orders and refund the
    paid ones of every failed team (each in its own transaction). Safe to run any number
    of times: everything is re-derived from the database (``teams.py`` has the rules)."""
    due = list(
        Team.objects.filter(status=Team.Status.OPEN, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:TEAM_BATCH]
    )
    handled = sum(team_fail(team_id=team_id, now=now) for team_id in due)
    stranded = (
        Order.objects.filter(
            team_member__team__status=Team.Status.FAILED,
            status__in=(Order.Status.PENDING_PAYMENT, Order.Status.AWAITING_TEAM),
        )
        .order_by("pk")
        .values_list("pk", "status")[:TEAM_BATCH]
    )
    for order_id, status in list(stranded):
        if status == Order.Status.PENDING_PAYMENT:
            try:
                order_cancel(order_id=order_id, note="Team failed: window closed")
            except IllegalOrderTransition:
                logger.info("order %s was paid as its team failed; refunded next run", order_id)
            continue
        try:
            order_refund_full(order_id=order_id, reason="team_failed", now=now)
        except ApplicationError:
            logger.exception("refund of order %s of a failed team refused; next run retries", order_id)
            continue
        handled += 1
    # Coupons of checkouts that ended with their failed team: back in their owners' wallets.
    handled += coupons_give_back_failed_teams(now)
    return handled


def after_sales_apply_deadlines(now: datetime) -> int:
    """After-sales cases past a deadline are decided as the rules say (approved, closed or
    refunded: ``after_sale_apply_deadline``); then the merchant is warned of each of its
    deadlines that falls within ``AFTER_SALE_WARN_AHEAD``. Returns the cases decided."""
    Status = AfterSale.Status
    due = AfterSale.objects.filter(
        Q(status=Status.REQUESTED, respond_by__lte=now)
        | Q(status=Status.AWAITING_RETURN, return_by__lte=now)
        | Q(status=Status.RETURN_SHIPPED, refund_by__lte=now)
    )

    def decide(case_id: int) -> bool:
        try:
            return after_sale_apply_deadline(case_id=case_id, now=now)
        except ApplicationError:
            logger.exception("after-sales case %s past its deadline was refused; next run retries", case_id)
            return False

    decided = _sweep(due, decide)
    ahead = now + settings.SHOP_RULES["AFTER_SALE_WARN_AHEAD"]
    near = AfterSale.objects.filter(warned_at__isnull=True).filter(
        Q(status=Status.REQUESTED, respond_by__lte=ahead, respond_by__gt=now)
        | Q(status=Status.RETURN_SHIPPED, refund_by__lte=ahead, refund_by__gt=now)
    )
    _sweep(near, lambda case_id: after_sale_warn_merchant(case_id=case_id, now=now))
    return decided

"""Periodic jobs of orders (registered in ``OrdersConfig.ready``), each re-deriving due
work from the database and handling each order in its own short transaction."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef

from orders.errors import IllegalOrderTransition
from orders.models import AfterSale, Order

from .lifecycle import order_cancel, order_complete, order_confirm_receipt

logger = logging.getLogger("orders.sweepers")
BATCH = 500


def cancel_unpaid_orders(now: datetime) -> int:
    """Unpaid past the deadline (15 min default): cancel, release stock, close the payment."""
    order_ids = list(
        Order.objects.filter(status=Order.Status.PENDING_PAYMENT, pay_deadline_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    done = 0
    for order_id in order_ids:
        try:
            order_cancel(order_id=order_id, note="Not paid in time")
            done += 1
        except IllegalOrderTransition:
            logger.info("order %s was paid while timing out", order_id)
    return done


def auto_confirm_receipt(now: datetime) -> int:
    """Shipped long enough ago (10 days default): received automatically."""
    cutoff = now - settings.SHOP_RULES["AUTO_RECEIPT_AFTER"]
    order_ids = list(
        Order.objects.filter(status=Order.Status.SHIPPED, shipped_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for order_id in order_ids:
        order_confirm_receipt(order_id=order_id, now=now)
    return len(order_ids)


def complete_orders(now: datetime) -> int:
    """After-sales window closed (7 days after receipt) and no case open: completed, handed
    to settlement. An order with an open case completes once the case is decided."""
    open_case = AfterSale.objects.filter(order=OuterRef("pk"), status__in=AfterSale.OPEN)
    order_ids = list(
        Order.objects.filter(status=Order.Status.RECEIVED, after_sales_closes_at__lte=now)
        .exclude(Exists(open_case))
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for order_id in order_ids:
        order_complete(order_id=order_id, now=now)
    return len(order_ids)

"""Handlers ``rebates`` plugs into ``orders`` and the periodic jobs (see ``RebatesConfig.ready``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction

from orders.models import Order

# A completed order's own task normally settles it within seconds; the sweeper only
# picks up what is still pending after this long.
CATCH_UP_GRACE = timedelta(minutes=5)


def order_completed_enqueue_settlement(order: Order) -> None:
    """Order ``completed`` hook: settle it in the background once the completion commits."""
    from rebates.tasks import orders_settle_task

    transaction.on_commit(partial(orders_settle_task.delay, [order.pk]))


def settlement_catch_up(now: datetime) -> int:
    """Sweeper: completed orders with pending accruals (a lost message, a crash) are
    settled in batches, one task per batch."""
    from rebates.services.settlement import unsettled_completed_order_ids
    from rebates.tasks import orders_settle_task

    batch = settings.SHOP_RULES["SETTLEMENT_BATCH_SIZE"]
    order_ids = unsettled_completed_order_ids(completed_before=now - CATCH_UP_GRACE, limit=batch * 20)
    for start in range(0, len(order_ids), batch):
        orders_settle_task.delay(order_ids[start : start + batch])
    return len(order_ids)

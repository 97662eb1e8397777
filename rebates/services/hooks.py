"""Handlers ``rebates`` plugs into ``orders`` and the periodic jobs (see ``RebatesConfig.ready``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from orders.models import Order

# A completed order's own task normally settles it within seconds; the sweeper only
# picks up what is still pending after this long.
CATCH_UP_GRACE = timedelta(minutes=5)
CATCH_UP_WINDOW = timedelta(days=2)  # what the minute's sweep looks at
FULL_SWEEP_EVERY = timedelta(hours=1)  # and the whole table, this often


def order_completed_enqueue_settlement(order: Order) -> None:
    """Order ``completed`` hook: settle it in the background once the completion commits."""
    from rebates.tasks import orders_settle_task

    transaction.on_commit(partial(orders_settle_task.delay, [order.pk]))


def settlement_catch_up(now: datetime) -> int:
    """Sweeper: completed orders with pending accruals (a lost message, a crash) are
    settled in batches, one task per batch.

    Every minute it looks only at orders completed in the last ``CATCH_UP_WINDOW`` (a range
    of the partial index of completed orders); the whole table is looked at when the last
    whole look is more than ``FULL_SWEEP_EVERY`` behind ``now`` (or ahead of it: a clock sent
    back), when nobody remembers one (the cache was emptied), and until a whole look finds
    fewer than a batch's worth left. At ten million orders a day a whole look every minute
    would read the table every minute for what is, nearly always, nothing."""
    from rebates.services.settlement import unsettled_completed_order_ids
    from rebates.tasks import orders_settle_task

    batch = settings.SHOP_RULES["SETTLEMENT_BATCH_SIZE"]
    limit = batch * 20
    key = _full_sweep_key()
    last_full = cache.get(key)
    whole = last_full is None or not (now - FULL_SWEEP_EVERY <= last_full <= now)
    order_ids = unsettled_completed_order_ids(
        completed_before=now - CATCH_UP_GRACE,
        completed_since=None if whole else now - CATCH_UP_WINDOW,
        limit=limit,
    )
    for start in range(0, len(order_ids), batch):
        orders_settle_task.delay(order_ids[start : start + batch])
    if whole and len(order_ids) < limit:  # it saw everything: windows will do for a while
        cache.set(key, now, timeout=None)
    return len(order_ids)


def _full_sweep_key() -> str:
    # Databases sharing one cache (environments, parallel test runs) never share the memory.
    return f"rebates:settlement-whole-sweep:{settings.DATABASES['default']['NAME']}"

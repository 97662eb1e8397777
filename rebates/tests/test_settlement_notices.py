"""Settlement's notices (rebates/services/settlement_notices.py): "an envelope is waiting"
goes once per member, store and day, however many runs that day fund envelopes, and a
later run's notices cost the same number of statements whatever the store's size, not an
attempt per member."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groupstore.tests.factories import make_store
from products.tests.factories import SkuFactory
from rebates.models import OrderSettlement
from rebates.services.settlement import orders_settle
from rebates.services.settlement_notices import settlement_run_notify
from rebates.tests.helpers import make_completed_orders
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db


def _settled_run(order) -> int:
    assert orders_settle(order_ids=[order.pk]) == 1
    return OrderSettlement.objects.get(order=order).run_id


def _two_runs_in_a_day(members: int) -> tuple[int, int, int]:
    """(members told after the first run, after the second, statements of the second's notices)."""
    store, _, buyers = make_store(members=members)
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=10)
    first, second = make_completed_orders(buyers=buyers[:2], store=store, sku=sku)
    settlement_run_notify(run_id=_settled_run(first))
    told_first = Notification.objects.filter(kind="envelope_waiting", data__store_id=store.pk).count()
    run = _settled_run(second)
    with CaptureQueriesContext(connection) as queries:
        settlement_run_notify(run_id=run)
    told = Notification.objects.filter(kind="envelope_waiting", data__store_id=store.pk).count()
    return told_first, told, len(queries)


def test_a_later_run_that_day_tells_nobody_twice_at_a_cost_flat_in_members():
    small_first, small, small_statements = _two_runs_in_a_day(5)
    big_first, big, big_statements = _two_runs_in_a_day(60)

    assert (small_first, small) == (6, 6)  # every member and the owner, once
    assert (big_first, big) == (61, 61)
    assert big_statements == small_statements  # was 3 statements more per member

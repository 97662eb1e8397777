"""The settlement catch-up sweeper's query (``unsettled_completed_order_ids``): completed
orders before the cut-off, neither settled nor waiting for their share. Written as NOT
EXISTS since the ops overview's bench (NOT IN over 1.8 M settlements ran for minutes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from groupstore.tests.factories import make_store
from orders.models import Order
from products.tests.factories import SkuFactory
from rebates.models import OrderSettlement
from rebates.services.settlement import unsettled_completed_order_ids
from rebates.tests.helpers import make_paid_order
from shop.payments.models import FundsStep, PaymentPart

pytestmark = pytest.mark.django_db


def test_only_completed_unsettled_unshared_orders_before_the_cut_off():
    store, _, buyers = make_store(members=5)
    sku = SkuFactory(on_hand=20)
    orders = [make_paid_order(buyer=b, store=store, sku=sku) for b in buyers]
    due, settled, shared, fresh, received = orders
    now = timezone.now()
    for order in (due, settled, shared):
        Order.objects.filter(pk=order.pk).update(
            status=Order.Status.COMPLETED, completed_at=now - timedelta(hours=1)
        )
    Order.objects.filter(pk=fresh.pk).update(status=Order.Status.COMPLETED, completed_at=now)
    Order.objects.filter(pk=received.pk).update(status=Order.Status.RECEIVED)
    OrderSettlement.objects.create(
        order=settled,
        merchant_id=settled.merchant_id,
        commission_fen=0,
        merchant_payable_fen=0,
        platform_fee_fen=0,
        settled_at=now,
    )
    part = PaymentPart.objects.create(
        payment=shared.payment,
        order_id=shared.pk,
        merchant_id=shared.merchant_id,
        sub_mchid="1900000109",
        out_trade_no=f"P{shared.pk}",
        amount_fen=shared.paid_fen,
    )
    FundsStep.objects.create(
        kind=FundsStep.Kind.SHARE,
        part=part,
        order_id=shared.pk,
        merchant_id=shared.merchant_id,
        out_no=f"S{shared.pk}",
        amount_fen=0,
    )

    assert unsettled_completed_order_ids(completed_before=now - timedelta(minutes=5), limit=10) == [due.pk]
    assert unsettled_completed_order_ids(completed_before=now, limit=10) == sorted([due.pk, fresh.pk])


# --- the sweeper: a window every minute, the whole table now and then (services/hooks.py)


@pytest.fixture
def swept(monkeypatch):
    """What ``settlement_catch_up`` hands to the settlement task, instead of settling it."""
    from django.core.cache import cache

    from rebates.services import hooks
    from rebates.tasks import orders_settle_task

    batches: list[list[int]] = []
    monkeypatch.setattr(orders_settle_task, "delay", batches.append)
    cache.delete(hooks._full_sweep_key())
    yield batches
    cache.delete(hooks._full_sweep_key())


def _completed(order, at) -> None:
    Order.objects.filter(pk=order.pk).update(status=Order.Status.COMPLETED, completed_at=at)


def test_the_minute_s_sweep_looks_at_the_window_and_the_whole_table_hourly(swept):
    from rebates.services.hooks import CATCH_UP_WINDOW, FULL_SWEEP_EVERY, settlement_catch_up

    store, _, (a, b) = make_store(members=2)
    sku = SkuFactory(on_hand=20)
    now = timezone.now()
    recent, old = (make_paid_order(buyer=x, store=store, sku=sku) for x in (a, b))
    settlement_catch_up(now)  # nothing completed yet: a whole look, remembered
    _completed(recent, now - timedelta(hours=1))
    _completed(old, now - CATCH_UP_WINDOW - timedelta(days=3))  # e.g. a lost message, a crash

    assert settlement_catch_up(now + timedelta(minutes=1)) == 1  # the window only
    assert swept[-1] == [recent.pk]
    assert settlement_catch_up(now + FULL_SWEEP_EVERY + timedelta(minutes=1)) == 2  # the whole table
    assert swept[-1] == sorted([recent.pk, old.pk])
    assert settlement_catch_up(now - timedelta(days=1)) == 1  # a clock sent back: a whole look
    assert swept[-1] == [old.pk]


def test_a_whole_look_is_taken_again_until_it_finds_less_than_its_limit(swept, settings):
    from rebates.services.hooks import CATCH_UP_WINDOW, settlement_catch_up

    settings.SHOP_RULES = {**settings.SHOP_RULES, "SETTLEMENT_BATCH_SIZE": 1}  # limit: 20
    store, _, buyers = make_store(members=21)
    sku = SkuFactory(on_hand=50)
    now = timezone.now()
    for buyer in buyers:
        _completed(make_paid_order(buyer=buyer, store=store, sku=sku), now - CATCH_UP_WINDOW * 2)

    assert settlement_catch_up(now) == 20  # a backlog: not yet seen to its end
    assert settlement_catch_up(now + timedelta(minutes=1)) == 20  # so the whole table again

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

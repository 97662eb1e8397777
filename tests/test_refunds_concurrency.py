"""Refunds racing each other on PostgreSQL: money goes back once, never more than was paid."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.services.refunds import RefundLine, order_refund
from products.tests.factories import SkuFactory
from rebates.models import Accrual
from rebates.tests.helpers import make_paid_order
from shop.payments.models import Refund
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_eight_refunds_of_the_whole_order_at_once_pay_back_exactly_once():
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000, on_hand=5)
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku, qty=2)
    item = order.items.get()

    results = run_concurrently(
        lambda i: order_refund(
            order_id=order.pk,
            lines=[RefundLine(order_item_id=item.pk, amount_fen=3_980, qty=2)],
            reason="race",
            key=f"race-{i}",
        ),
        times=8,
    )

    winners = [r for r in results if isinstance(r, Refund)]
    assert len(winners) == 1, results
    assert all(type(r).__name__ in {"Refund", "IllegalOrderTransition", "InvalidRefund"} for r in results), (
        results
    )
    order.refresh_from_db()
    sku.refresh_from_db()
    assert (order.status, order.refunded_fen) == (Order.Status.REFUNDED, 3_980)
    assert (sku.on_hand, sku.reserved) == (5, 0)
    assert Refund.objects.filter(payment=order.payment).count() == 1
    assert {a.kind: a.cancelled_fen for a in Accrual.objects.filter(order=order)} == {
        "member_rebate": 119,
        "owner_commission": 238,
        "platform": 41,
    }
    call_command("ledger_check")

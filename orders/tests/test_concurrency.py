"""Checkout and cancellation under real concurrency on PostgreSQL.

Every test releases its threads together through a barrier (``run_concurrently``), each
thread on its own database connection, then asserts the invariants of docs/design.md
"Orders and payments": stock never oversold, losers leave nothing behind, and a
cancel racing the payment callback ends one way or the other, never both.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from groupstore.tests.factories import make_store
from orders.errors import IllegalOrderTransition
from orders.models import Order, OrderEvent, OrderItem
from orders.services.checkout import CheckoutResult, order_create
from orders.services.lifecycle import order_cancel
from products.errors import OutOfStock
from products.tests.factories import SkuFactory
from shop.ledger.models import Transaction
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payment, PaymentAnomaly
from shop.payments.services import Applied, payment_apply_result
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


def _buy(*, buyer, store, sku, qty: int) -> CheckoutResult:
    return order_create(
        buyer=buyer,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": qty}],
        address=ADDRESS,
        gateway="sandbox",
    )


def test_fifty_buyers_racing_for_ten_units_get_exactly_ten_orders():
    # given 50 members of one store and a SKU with 10 on hand
    store, _, buyers = make_store(members=50)
    sku = SkuFactory(on_hand=10, price_fen=1_990)

    # when all 50 order one unit at once
    results = run_concurrently(lambda i: _buy(buyer=buyers[i], store=store, sku=sku, qty=1), times=50)

    # then exactly 10 win and the 40 others were told "out of stock"
    winners = [buyers[i] for i, r in enumerate(results) if isinstance(r, CheckoutResult)]
    losers = [buyers[i] for i, r in enumerate(results) if isinstance(r, OutOfStock)]
    assert len(winners) == 10
    assert len(losers) == 40, [r for r in results if not isinstance(r, CheckoutResult | OutOfStock)]
    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved, sku.available) == (10, 10, 0)
    assert Order.objects.count() == 10
    assert set(Order.objects.values_list("buyer_id", flat=True)) == {u.pk for u in winners}
    assert OrderItem.objects.filter(sku=sku).count() == 10
    assert Payment.objects.count() == 10
    assert OrderEvent.objects.count() == 10
    # and the losers' checkouts were rolled back whole: no order, no payment
    assert not Order.objects.filter(buyer__in=losers).exists()
    assert not Payment.objects.filter(payer__in=losers).exists()


def test_one_buyer_sending_five_orders_of_three_at_once_gets_three():
    # given one member and 10 units on hand
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=10)

    # when the buyer sends five orders of 3 at once (a double-tapping client)
    results = run_concurrently(lambda i: _buy(buyer=buyer, store=store, sku=sku, qty=3), times=5)

    # then 3 × 3 = 9 units are held, the other two orders were refused
    assert sum(isinstance(r, CheckoutResult) for r in results) == 3
    assert sum(isinstance(r, OutOfStock) for r in results) == 2, results
    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved, sku.available) == (10, 9, 1)
    assert Order.objects.filter(buyer=buyer).count() == 3
    assert Payment.objects.filter(payer=buyer).count() == 3


CANCEL_VS_CALLBACK_ROUNDS = 25


def test_cancel_racing_the_payment_callback_ends_cancelled_or_paid_never_both():
    # given a member, and stock enough for every round
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=CANCEL_VS_CALLBACK_ROUNDS, price_fen=1_990)
    gateway = SandboxGateway()
    reserved = 0

    for _ in range(CANCEL_VS_CALLBACK_ROUNDS):
        checkout = _buy(buyer=buyer, store=store, sku=sku, qty=1)
        order, payment = checkout.orders[0], checkout.payment
        headers, body = gateway.build_success_callback(payment)
        result = gateway.parse_payment_callback(headers=headers, body=body)

        # when the buyer cancels while the gateway's success callback arrives
        def race(i: int, order_id=order.pk, result=result):
            if i == 0:
                return order_cancel(order_id=order_id, actor=buyer, note="changed my mind")
            return payment_apply_result(gateway="sandbox", result=result)

        cancel_outcome, callback_outcome = run_concurrently(race, times=2)

        # then the round ended exactly one way
        order.refresh_from_db()
        payment.refresh_from_db()
        sku.refresh_from_db()
        receipts = Transaction.objects.filter(idempotency_key=f"payment:{payment.pk}:received").count()
        anomalies = PaymentAnomaly.objects.filter(payment=payment)
        if isinstance(cancel_outcome, list):  # the cancel won
            assert callback_outcome == Applied.ANOMALY
            assert order.status == Order.Status.CANCELLED
            assert payment.status == Payment.Status.CLOSED
            assert payment.gateway_txn_id is None
            assert receipts == 0
            assert list(anomalies.values_list("kind", "gateway_txn_id", "reported_amount_fen")) == [
                (PaymentAnomaly.Kind.PAID_AFTER_CLOSE, result.transaction_id, 1_990)
            ]
            assert not order.events.filter(kind=OrderEvent.Kind.PAID).exists()
            assert order.accruals.count() == 0
        else:  # the callback won
            assert isinstance(cancel_outcome, IllegalOrderTransition), cancel_outcome
            assert callback_outcome == Applied.APPLIED
            assert order.status == Order.Status.PAID
            assert payment.status == Payment.Status.SUCCEEDED
            assert payment.gateway_txn_id == result.transaction_id
            assert receipts == 1
            assert not anomalies.exists()
            assert not order.events.filter(kind=OrderEvent.Kind.CANCELLED).exists()
            reserved += 1  # a paid order keeps its units until it ships
        assert (sku.on_hand, sku.reserved) == (CANCEL_VS_CALLBACK_ROUNDS, reserved)

    call_command("ledger_check")


def test_cancel_racing_many_callbacks_and_cancels_ends_one_way():
    # given one unpaid checkout and one signed callback, delivered again and again
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=5)
    checkout = _buy(buyer=buyer, store=store, sku=sku, qty=2)
    order, payment = checkout.orders[0], checkout.payment
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    result = gateway.parse_payment_callback(headers=headers, body=body)

    # when 4 cancels (buyer double taps, the unpaid sweeper) and 4 deliveries race
    def race(i: int):
        if i % 2 == 0:
            return order_cancel(order_id=order.pk, actor=buyer)
        return payment_apply_result(gateway="sandbox", result=result)

    results = run_concurrently(race, times=8)

    # then either every cancel succeeded (or was a no-op) and every delivery is the one anomaly,
    # or the payment was applied once and every cancel was refused
    cancels, callbacks = results[0::2], results[1::2]
    order.refresh_from_db()
    payment.refresh_from_db()
    sku.refresh_from_db()
    if order.status == Order.Status.CANCELLED:
        assert all(isinstance(r, list) for r in cancels), cancels
        assert callbacks == [Applied.ANOMALY] * 4
        assert payment.status == Payment.Status.CLOSED
        assert PaymentAnomaly.objects.filter(payment=payment).count() == 1
        assert sku.reserved == 0
        assert order.events.filter(kind=OrderEvent.Kind.CANCELLED).count() == 1
    else:
        assert order.status == Order.Status.PAID
        assert all(isinstance(r, IllegalOrderTransition) for r in cancels), cancels
        assert sorted(callbacks) == sorted([Applied.APPLIED] + [Applied.DUPLICATE] * 3)
        assert payment.status == Payment.Status.SUCCEEDED
        assert not PaymentAnomaly.objects.filter(payment=payment).exists()
        assert sku.reserved == 2
        assert order.events.filter(kind=OrderEvent.Kind.PAID).count() == 1
    assert Transaction.objects.filter(ref_type="payment", ref_id=payment.pk).count() == (
        1 if order.status == Order.Status.PAID else 0
    )
    call_command("ledger_check")

"""Pickup codes under real concurrency on PostgreSQL: a code redeemed by many requests at
once is collected once; parallel wrong guesses stop at the hourly limit; two checkouts that
draw the same code at once end with different codes."""

from __future__ import annotations

import threading
from unittest import mock

import pytest

from accounts.tests.factories import UserFactory
from groupstore.services import pickup_point_put, venue_selection_set
from groupstore.tests.factories import make_leader, make_store
from orders.errors import PickupAlreadyCollected, PickupNotFound, PickupTriesExhausted
from orders.models import Order, OrderEvent, Pickup, PickupCodeAttempt
from orders.services import pickup_codes
from orders.services.checkout import order_create
from orders.services.lifecycle import order_ship
from orders.services.pickups import pickup_mark_arrived, pickup_redeem
from products.tests.factories import SkuFactory
from shop.testing.concurrency import run_concurrently

from .helpers import sandbox_pay

pytestmark = pytest.mark.django_db(transaction=True)

POINT = {
    "name": "阳光小区自提点",
    "region": "上海市",
    "address": "3 号楼便利店",
    "opening_hours": "9:00-21:00",
    "contact_name": "王团长",
    "contact_phone": "13900139000",
}


@pytest.fixture
def venue():
    leader = UserFactory()
    make_leader(user=leader)
    store, _, members = make_store(owner=leader, members=2)
    sku = SkuFactory(price_fen=1_000, on_hand=100)
    venue_selection_set(store_id=store.pk, user=leader, product_ids=[sku.product_id])
    point, _ = pickup_point_put(leader=leader, **POINT)
    return leader, store, members, sku, point


def _checkout(*, buyer, store, sku, point):
    return order_create(
        buyer=buyer,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": 1}],
        address={},
        gateway="sandbox",
        pickup_point=point,
    )


def _arrived_order(venue) -> Order:
    leader, store, (buyer, _), sku, point = venue
    result = _checkout(buyer=buyer, store=store, sku=sku, point=point)
    sandbox_pay(result.payment)
    order = result.orders[0]
    order_ship(order_id=order.pk, merchant_id=order.merchant_id, carrier="SF", tracking_no="SF1", actor=None)
    pickup_mark_arrived(leader=leader, order_id=order.pk)
    return order


def test_one_code_redeemed_eight_times_at_once_is_collected_once(venue):
    leader = venue[0]
    order = _arrived_order(venue)
    code = Pickup.objects.get(order=order).code

    results = run_concurrently(lambda i: pickup_redeem(leader=leader, code=code), times=8)

    collected = [r for r in results if isinstance(r, Order)]
    assert len(collected) == 1, results
    assert all(isinstance(r, PickupAlreadyCollected) for r in results if not isinstance(r, Order)), results
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.COLLECTED).count() == 1
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.RECEIVED).count() == 1


def test_ten_wrong_codes_at_once_are_five_tries_and_five_refusals(venue):
    leader = venue[0]
    order = _arrived_order(venue)
    code = Pickup.objects.get(order=order).code
    wrong = [f"{n:06d}" for n in range(12) if f"{n:06d}" != code][:10]

    results = run_concurrently(lambda i: pickup_redeem(leader=leader, code=wrong[i]), times=10)

    assert sum(isinstance(r, PickupNotFound) for r in results) == 5, results
    assert sum(isinstance(r, PickupTriesExhausted) for r in results) == 5, results
    assert PickupCodeAttempt.objects.filter(leader=leader).count() == 5


def test_two_checkouts_drawing_the_same_code_at_once_end_with_different_codes(venue):
    _, store, buyers, sku, point = venue
    first_draw = threading.local()
    real_draw = pickup_codes.pickup_code_draw

    def clashing_draw():
        if not getattr(first_draw, "done", False):
            first_draw.done = True
            return "123456"
        return real_draw()

    with mock.patch.object(pickup_codes, "pickup_code_draw", clashing_draw):
        results = run_concurrently(
            lambda i: _checkout(buyer=buyers[i], store=store, sku=sku, point=point), times=2
        )

    assert not [r for r in results if isinstance(r, BaseException)], results
    codes = sorted(Pickup.objects.filter(point=point).values_list("code", flat=True))
    assert len(codes) == 2
    assert len(set(codes)) == 2
    assert "123456" in codes

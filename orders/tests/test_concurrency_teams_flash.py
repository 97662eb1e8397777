"""Teams and flash offers under real concurrency on PostgreSQL (threads, own connections)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection

from groupstore.tests.factories import make_store
from orders.errors import FlashLimitReached, FlashSoldOut, TeamFull
from orders.models import FlashBuyerCount, Order, Team, TeamMember
from orders.services import flash
from orders.services.checkout import CheckoutResult
from orders.services.lifecycle import order_cancel
from products.tests.factories import SkuFactory
from shop.payments.models import Payment
from shop.payments.services import Applied
from shop.testing.concurrency import run_concurrently

from .helpers import buy, flash_offer, sandbox_pay, team_sku, unlock_flash

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_buyers_joining_a_team_of_three_leave_exactly_three_members():
    store, _, (leader, *joiners) = make_store(members=21)
    sku = team_sku(team_size=3)
    buy(buyer=leader, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()

    results = run_concurrently(
        lambda i: buy(buyer=joiners[i], store=store, sku=sku, team={"join": team.pk}), times=20
    )

    won = [r for r in results if isinstance(r, CheckoutResult)]
    assert len(won) == 2
    assert sum(isinstance(r, TeamFull) for r in results) == 18, [
        r for r in results if not isinstance(r, CheckoutResult)
    ]
    team.refresh_from_db()
    sku.refresh_from_db()
    assert team.members_count == 3
    assert TeamMember.objects.filter(team=team).count() == 3
    assert Order.objects.count() == 3
    assert Payment.objects.count() == 3
    assert sku.reserved == 3


def test_two_buyers_for_the_last_seat_exactly_one_gets_it():
    store, _, (leader, second, x, y) = make_store(members=4)
    sku = team_sku(team_size=3)
    buy(buyer=leader, store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    buy(buyer=second, store=store, sku=sku, team={"join": team.pk})

    results = run_concurrently(
        lambda i: buy(buyer=[x, y][i], store=store, sku=sku, team={"join": team.pk}), times=2
    )

    assert sorted(type(r).__name__ for r in results) == ["CheckoutResult", "TeamFull"]
    team.refresh_from_db()
    assert team.members_count == 3
    assert TeamMember.objects.count() == 3


def test_the_whole_team_paying_at_once_succeeds_it_once():
    store, _, buyers = make_store(members=5)
    sku = team_sku(team_size=5)
    first = buy(buyer=buyers[0], store=store, sku=sku, team={"open": True})
    team = Team.objects.get()
    payments = [first.payment] + [
        buy(buyer=b, store=store, sku=sku, team={"join": team.pk}).payment for b in buyers[1:]
    ]

    results = run_concurrently(lambda i: sandbox_pay(payments[i]), times=5)

    assert results == [Applied.APPLIED] * 5
    team.refresh_from_db()
    assert (team.status, team.paid_count, team.members_count) == ("succeeded", 5, 5)
    assert list(Order.objects.values_list("status", flat=True).distinct()) == ["paid"]


def test_fifty_buyers_for_a_flash_cap_of_ten_get_exactly_ten_orders(settings):
    unlock_flash(settings)
    store, _, buyers = make_store(members=50)
    sku = SkuFactory(on_hand=100, price_fen=1_990)
    offer = flash_offer(sku=sku, quantity=10, per_user_limit=1, price_fen=990)

    results = run_concurrently(lambda i: buy(buyer=buyers[i], store=store, sku=sku), times=50)

    won = [r for r in results if isinstance(r, CheckoutResult)]
    assert len(won) == 10
    assert sum(isinstance(r, FlashSoldOut) for r in results) == 40, [
        r for r in results if not isinstance(r, CheckoutResult | FlashSoldOut)
    ]
    offer.refresh_from_db()
    sku.refresh_from_db()
    assert offer.sold_count == 10
    assert (sku.on_hand, sku.reserved) == (100, 10)
    assert Order.objects.count() == 10
    assert Payment.objects.count() == 10
    assert set(Order.objects.values_list("paid_fen", flat=True)) == {990}
    assert sum(FlashBuyerCount.objects.values_list("units", flat=True)) == 10


def test_the_flash_cap_holds_on_the_database_path_alone(settings):
    unlock_flash(settings)
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_GATE": False}
    store, _, buyers = make_store(members=30)
    sku = SkuFactory(on_hand=100)
    offer = flash_offer(sku=sku, quantity=7)

    results = run_concurrently(lambda i: buy(buyer=buyers[i], store=store, sku=sku), times=30)

    assert sum(isinstance(r, CheckoutResult) for r in results) == 7
    assert sum(isinstance(r, FlashSoldOut) for r in results) == 23, results
    offer.refresh_from_db()
    assert offer.sold_count == 7
    assert Order.objects.count() == 7


@pytest.mark.parametrize("gate", [True, False])
def test_one_buyer_tapping_ten_times_gets_the_per_user_limit(settings, gate):
    unlock_flash(settings)
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_GATE": gate}
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=100)
    offer = flash_offer(sku=sku, quantity=50, per_user_limit=2)

    results = run_concurrently(lambda i: buy(buyer=buyer, store=store, sku=sku), times=10)

    assert sum(isinstance(r, CheckoutResult) for r in results) == 2
    assert sum(isinstance(r, FlashLimitReached) for r in results) == 8, results
    offer.refresh_from_db()
    assert offer.sold_count == 2
    assert FlashBuyerCount.objects.get(offer=offer, buyer=buyer).units == 2
    assert Order.objects.filter(buyer=buyer).count() == 2


def test_a_gate_pass_refused_by_the_database_gives_its_token_back(settings):
    unlock_flash(settings)
    store, _, (a, b) = make_store(members=2)
    sku = SkuFactory(on_hand=10)
    offer = flash_offer(sku=sku, quantity=5)
    buy(buyer=a, store=store, sku=sku)
    left_key, buyers_key = flash._keys(offer)
    client = flash._redis()
    assert int(client.get(left_key)) == 4

    from products.errors import OutOfStock

    # the stock UPDATE loses a race after the gate admitted the buyer
    with (
        mock.patch("orders.services.checkout.sku_reserve_stock", side_effect=OutOfStock()),
        pytest.raises(OutOfStock),
    ):
        buy(buyer=b, store=store, sku=sku)

    assert int(client.get(left_key)) == 4
    assert int(client.hget(buyers_key, b.pk) or 0) == 0
    offer.refresh_from_db()
    assert offer.sold_count == 1
    assert not FlashBuyerCount.objects.filter(buyer=b, units__gt=0).exists()
    assert Order.objects.filter(buyer=b).count() == 0
    connection.close()


def test_cancel_gives_back_the_offer_the_buyer_count_and_the_gate(settings):
    unlock_flash(settings)
    store, _, (a,) = make_store(members=1)
    sku = SkuFactory(on_hand=10)
    offer = flash_offer(sku=sku, quantity=1)
    order = buy(buyer=a, store=store, sku=sku).orders[0]
    with pytest.raises(FlashSoldOut):
        buy(buyer=a, store=store, sku=sku)

    order_cancel(order_id=order.pk, actor=a)

    offer.refresh_from_db()
    assert offer.sold_count == 0
    assert FlashBuyerCount.objects.get(offer=offer, buyer=a).units == 0
    left_key, buyers_key = flash._keys(offer)
    assert int(flash._redis().get(left_key)) == 1
    again = buy(buyer=a, store=store, sku=sku).orders[0]  # the unit can be bought again
    assert again.items.get().price_kind == "flash"

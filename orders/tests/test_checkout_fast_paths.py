"""The cheap answers of checkout (bench/results/orders.md): a flash crowd after sell-out is
told ``flash_sold_out`` from the offer row alone, writing nothing; an ordinary order is a
bounded number of queries and its answer is the order as a fresh read shows it."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from orders.errors import FlashSoldOut
from orders.models import FlashBuyerCount, Order, OrderEvent, OrderItem
from orders.services.checkout import CheckoutResult
from products.models import Product
from products.tests.factories import SkuFactory
from shop.payments.models import Payment
from shop.testing.asserts import assert_error
from shop.testing.concurrency import run_concurrently

from .helpers import ADDRESS, buy, coupon, flash_offer, team_sku, unlock_flash

pytestmark = pytest.mark.django_db


def _body(store, sku, qty: int = 1) -> dict:
    return {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": qty}], "address": ADDRESS}


def _written() -> tuple:
    return (
        Order.objects.count(),
        OrderItem.objects.count(),
        OrderEvent.objects.count(),
        Payment.objects.count(),
        sorted(FlashBuyerCount.objects.values_list("buyer_id", "units")),
    )


@pytest.fixture
def sold_out(settings):
    """A flash offer of 2 units on a SKU of 2 in stock, both sold: stock and cap gone."""
    unlock_flash(settings)
    store, _, (a, b, late) = make_store(members=3)
    sku = SkuFactory(on_hand=2, price_fen=1_990)
    offer = flash_offer(sku=sku, quantity=2, per_user_limit=1, price_fen=990)
    buy(buyer=a, store=store, sku=sku)
    buy(buyer=b, store=store, sku=sku)
    return store, sku, offer, late


def test_after_a_sell_out_the_crowd_is_told_flash_sold_out_in_two_reads_writing_nothing(
    sold_out, make_client, django_assert_max_num_queries
):
    store, sku, offer, late = sold_out
    client = make_client(late)
    client.post("/api/v1/orders", _body(store, sku), format="json")  # prepares the statements (shop/db.py)
    before = _written()

    with django_assert_max_num_queries(2):  # token; store (membership, unlock) with the live offer
        response = client.post("/api/v1/orders", _body(store, sku), format="json")

    assert_error(response, 409, "flash_sold_out")
    assert _written() == before
    sku.refresh_from_db()
    offer.refresh_from_db()
    assert (sku.on_hand, sku.reserved, offer.sold_count) == (2, 2, 2)


def test_the_quote_gives_the_same_early_answer(sold_out, make_client):
    store, sku, _, late = sold_out
    response = make_client(late).post(
        "/api/v1/checkout/quote",
        {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 1}]},
        format="json",
    )
    assert_error(response, 409, "flash_sold_out")


def test_refusals_that_come_first_still_come_first(sold_out, make_client):
    """Not a member (403), a product taken off sale (409 sku_not_on_sale): the early
    answer never hides them."""
    store, sku, _, late = sold_out
    assert_error(
        make_client(UserFactory()).post("/api/v1/orders", _body(store, sku), format="json"),
        403,
        "not_store_member",
    )
    Product.objects.filter(pk=sku.product_id).update(status=Product.Status.OFF_SALE)
    assert_error(
        make_client(late).post("/api/v1/orders", _body(store, sku), format="json"), 409, "sku_not_on_sale"
    )


def test_a_basket_that_cannot_be_bought_is_refused_before_the_address_is_checked(sold_out, make_client):
    store, sku, _, late = sold_out
    body = {**_body(store, sku), "address": {"name": "", "phone": "not a phone"}}
    before = _written()

    assert_error(make_client(late).post("/api/v1/orders", body, format="json"), 409, "flash_sold_out")
    assert _written() == before


def test_a_bad_address_on_a_basket_that_can_be_bought_is_a_400_writing_nothing(make_client):
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=3)
    before = _written()

    response = make_client(buyer).post(
        "/api/v1/orders", {**_body(store, sku), "address": {"name": "王", "phone": "x"}}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"address.phone", "address.region", "address.detail"}
    assert _written() == before
    sku.refresh_from_db()
    assert sku.reserved == 0


def test_a_bad_basket_and_a_bad_address_are_reported_in_one_400(sold_out, make_client):
    store, sku, _, late = sold_out
    body = {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 0}]}

    error = assert_error(
        make_client(late).post("/api/v1/orders", body, format="json"), 400, "validation_error"
    )

    assert set(error["fields"]) == {"items.0.qty", "address"}


def test_an_offer_with_units_left_on_short_stock_still_says_out_of_stock(settings, make_client):
    unlock_flash(settings)
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=1)
    flash_offer(sku=sku, quantity=5, per_user_limit=3)
    before = _written()
    response = make_client(buyer).post("/api/v1/orders", _body(store, sku, qty=2), format="json")
    assert_error(response, 409, "out_of_stock")
    assert _written() == before


def test_beyond_the_per_buyer_limit_is_flash_limit_reached_before_the_quote(sold_out, make_client):
    store, sku, _, late = sold_out
    assert_error(
        make_client(late).post("/api/v1/orders", _body(store, sku, qty=2), format="json"),
        409,
        "flash_limit_reached",
    )


def test_an_ordinary_order_is_eight_queries_and_answers_what_a_read_shows(
    settings, make_client, django_assert_max_num_queries
):
    """token, store with its live offers, SKUs; payment, order, items, event, stock — plus the
    savepoint pair the test's own transaction turns ``atomic`` into."""
    unlock_flash(settings)  # the live-offer read runs too
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=10, price_fen=1_990)
    client = make_client(buyer)

    with django_assert_max_num_queries(8 + 2):
        created = client.post("/api/v1/orders", _body(store, sku, qty=2), format="json")

    assert created.status_code == 201, created.content
    (order,) = created.json()["orders"]
    assert (order["paid_fen"], order["items"][0]["paid_fen"], order["items"][0]["qty"]) == (3_980, 3_980, 2)
    assert order == client.get(f"/api/v1/orders/{order['id']}").json()
    sku.refresh_from_db()
    assert sku.reserved == 2
    # the SKU read by hand: JSON comes back as Python, so the snapshot is the spec itself
    assert OrderItem.objects.get().spec == sku.spec == {"规格": "10包"}
    assert order["items"][0]["spec"] == {"规格": "10包"}


def test_a_flash_line_snapshots_the_spec_and_the_flash_price(settings):
    unlock_flash(settings)
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(on_hand=3, price_fen=1_990, spec={"颜色": "红"})
    offer = flash_offer(sku=sku, quantity=3, price_fen=990)
    item = buy(buyer=buyer, store=store, sku=sku).orders[0].items.get()
    assert (item.spec, item.unit_price_fen, item.flash_offer_id) == ({"颜色": "红"}, 990, offer.pk)
    assert item.product_title == sku.product.title


def test_a_team_order_answers_what_a_read_shows(make_client):
    store, _, (buyer,) = make_store(members=1)
    sku = team_sku()
    client = make_client(buyer)
    created = client.post("/api/v1/orders", {**_body(store, sku), "team": {"open": True}}, format="json")
    assert created.status_code == 201, created.content
    (order,) = created.json()["orders"]
    assert order["team"] is not None
    assert order["items"][0]["price_kind"] == "team"
    assert order == client.get(f"/api/v1/orders/{order['id']}").json()


def test_a_coupon_basket_of_two_merchants_answers_what_reads_show(make_client):
    """Two orders under one payment, the coupon split over them: the answer is each order as
    ``GET /orders/{id}`` shows it (``order_placed_output`` against ``OrderOutput``)."""
    store, _, (buyer,) = make_store(members=1)
    skus = [SkuFactory(on_hand=5, price_fen=2_990), SkuFactory(on_hand=5, price_fen=1_990)]
    wallet = coupon(user=buyer, amount_fen=500)
    client = make_client(buyer)
    body = {
        "store_id": store.pk,
        "items": [{"sku_id": sku.pk, "qty": 1} for sku in skus],
        "coupon_id": wallet.pk,
        "address": ADDRESS,
    }
    created = client.post("/api/v1/orders", body, format="json")
    assert created.status_code == 201, created.content
    orders = created.json()["orders"]
    assert len(orders) == 2
    assert sum(o["coupon_fen"] for o in orders) == 500
    for order in orders:
        assert order == client.get(f"/api/v1/orders/{order['id']}").json()


@pytest.mark.django_db(transaction=True)
def test_a_crowd_on_a_cap_equal_to_stock_is_only_ever_told_flash_sold_out(settings):
    """Stock = cap: offer and stock are read in one statement, so no loser is told
    out_of_stock by a read that saw the stock gone but the offer not yet."""
    unlock_flash(settings)
    store, _, buyers = make_store(members=30)
    sku = SkuFactory(on_hand=8)
    offer = flash_offer(sku=sku, quantity=8, per_user_limit=1)

    results = run_concurrently(lambda i: buy(buyer=buyers[i], store=store, sku=sku), times=30)

    assert sum(isinstance(r, CheckoutResult) for r in results) == 8
    assert sum(isinstance(r, FlashSoldOut) for r in results) == 22, results
    offer.refresh_from_db()
    sku.refresh_from_db()
    assert (offer.sold_count, sku.reserved, sku.on_hand) == (8, 8, 8)
    assert sorted(FlashBuyerCount.objects.values_list("units", flat=True)) == [1] * 8


# --- the sold-out mark: the crowd answered before the token and the body are read (orders/services/flash.py)


def _told_sold_out(client, store, sku, **body) -> dict:
    return assert_error(
        client.post("/api/v1/orders", {**_body(store, sku), **body}, format="json"), 409, "flash_sold_out"
    )


def test_once_told_sold_out_a_store_s_crowd_is_answered_before_any_database_read(
    sold_out, make_client, django_assert_num_queries
):
    store, sku, offer, late = sold_out
    client = make_client(late)
    first = _told_sold_out(client, store, sku)  # the full path, from the offer row: leaves the mark
    before = _written()

    with django_assert_num_queries(0):  # from the mark (orders/api/flash_early.py): not even the token
        again = _told_sold_out(client, store, sku)
    with django_assert_num_queries(0):  # before the body is validated: a bad address is not looked at
        _told_sold_out(client, store, sku, address={"name": ""})

    assert again == first
    assert _written() == before


def test_units_given_back_wipe_the_mark_at_once(sold_out, make_client, django_capture_on_commit_callbacks):
    from orders.services.lifecycle import order_cancel

    store, sku, offer, late = sold_out
    client = make_client(late)
    _told_sold_out(client, store, sku)
    first = Order.objects.filter(items__flash_offer=offer).order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=first.pk, actor=first.buyer, note="changed my mind")

    response = client.post("/api/v1/orders", _body(store, sku), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["orders"][0]["items"][0]["unit_price_fen"] == 990


def test_the_mark_lasts_seconds_then_the_truth_is_read_again(
    sold_out, make_client, monkeypatch, django_assert_num_queries
):
    from orders.services import flash

    store, sku, _, late = sold_out
    client = make_client(late)
    _told_sold_out(client, store, sku)
    later = flash.time.time() + flash.SOLD_OUT_MARK_S + 0.1
    monkeypatch.setattr(flash.time, "time", lambda: later)

    with django_assert_num_queries(2):  # token; store with the live offer: the full path again
        _told_sold_out(client, store, sku)


def test_the_mark_is_the_store_s_own_and_ops_resync_wipes_it(
    sold_out, make_client, django_assert_num_queries
):
    from orders.services.flash import flash_gate_reset

    store, sku, offer, late = sold_out
    other_store, _, (stranger,) = make_store(members=1)
    mine, theirs = make_client(late), make_client(stranger)
    _told_sold_out(mine, store, sku)
    with django_assert_num_queries(2):  # another store's buyers: no mark of theirs
        _told_sold_out(theirs, other_store, sku)

    flash_gate_reset(offer_id=offer.pk)

    with django_assert_num_queries(2):
        _told_sold_out(mine, store, sku)


def test_the_gate_s_last_unit_gone_leaves_the_mark_but_too_few_left_does_not(
    settings, make_client, django_assert_num_queries
):
    """The gate can know before the database does (units held by checkouts in flight)."""
    from orders.services import flash

    unlock_flash(settings)
    store, _, (a, b) = make_store(members=2)
    sku = SkuFactory(on_hand=10)
    offer = flash_offer(sku=sku, quantity=5, per_user_limit=2)
    client = flash._redis()
    left_key = flash._keys(offer)[0]

    first, second = make_client(a), make_client(b)
    client.set(left_key, 1)
    _told_sold_out(first, store, sku, items=[{"sku_id": sku.pk, "qty": 2}])
    with django_assert_num_queries(2):  # 1 left, 2 asked: no mark; token, store with offer, gate
        _told_sold_out(first, store, sku, items=[{"sku_id": sku.pk, "qty": 2}])

    client.set(left_key, 0)
    _told_sold_out(second, store, sku)
    with django_assert_num_queries(0):
        _told_sold_out(second, store, sku)


def test_the_mark_counts_its_seconds_from_when_sold_out_was_read(sold_out, monkeypatch):
    """A mark written late (a give-back wiped the marks in between) is stale for at most
    SOLD_OUT_MARK_S from the read, not from the write."""
    from datetime import timedelta

    from django.utils import timezone

    from orders.services import flash

    store, sku, offer, _ = sold_out
    offer.refresh_from_db()
    read_at = timezone.now() - timedelta(seconds=flash.SOLD_OUT_MARK_S - 1)
    with pytest.raises(FlashSoldOut):
        flash.flash_check_units(offer=offer, qty=1, store_id=store.pk, read_at=read_at)
    with pytest.raises(FlashSoldOut):
        flash.flash_sold_out_early(store_id=store.pk, sku_id=sku.pk)  # one second left
    later = flash.time.time() + 1.1
    monkeypatch.setattr(flash.time, "time", lambda: later)
    flash.flash_sold_out_early(store_id=store.pk, sku_id=sku.pk)  # gone: 5 s after the read

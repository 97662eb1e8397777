"""The sold-out crowd answered in front of the framework (orders/api/flash_early.py): from
the mark alone, before the token, the body or any database row is read — and only when that
answer cannot hide another: no token, an idempotent retry, a basket of more than one item,
a body that is not JSON all still reach the view."""

from __future__ import annotations

import json

import pytest

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from orders.api.flash_early import PEEK_MAX_BYTES
from orders.models import Order
from products.tests.factories import SkuFactory
from shop.api.metrics import HTTP_REQUESTS
from shop.testing.asserts import assert_error

from .helpers import ADDRESS, buy, flash_offer, unlock_flash

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"


def _body(store, sku, **extra) -> dict:
    return {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS, **extra}


@pytest.fixture
def marked(settings, make_client):
    """A flash offer of 2 units, sold to two members; a third was told sold out (the mark)."""
    unlock_flash(settings)
    store, _, (a, b, late) = make_store(members=3)
    sku = SkuFactory(on_hand=5, price_fen=1_990)
    flash_offer(sku=sku, quantity=2, per_user_limit=1, price_fen=990)
    buy(buyer=a, store=store, sku=sku)
    buy(buyer=b, store=store, sku=sku)
    assert_error(make_client(late).post(ORDERS, _body(store, sku), format="json"), 409, "flash_sold_out")
    return store, sku, late


def _count(status: str) -> float:
    return HTTP_REQUESTS.labels("orders", "POST", status)._value.get()


def test_the_crowd_is_told_sold_out_without_a_database_read_counted_as_checkout(
    marked, make_client, django_assert_num_queries
):
    store, sku, late = marked
    client, before = make_client(late), _count("409")

    with django_assert_num_queries(0):
        response = client.post(ORDERS, _body(store, sku), format="json")

    assert_error(response, 409, "flash_sold_out")
    assert response["X-Request-ID"]  # the outer middleware still ran
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _count("409") == before + 1


def test_an_unknown_token_of_the_right_shape_is_told_sold_out_but_no_token_is_still_a_401(
    marked, client, django_assert_num_queries
):
    store, sku, _ = marked
    body = json.dumps(_body(store, sku))

    with django_assert_num_queries(0):
        unknown = client.post(
            ORDERS, body, content_type="application/json", HTTP_AUTHORIZATION="Bearer " + "x" * 43
        )
    anonymous = client.post(ORDERS, body, content_type="application/json")
    malformed = client.post(ORDERS, body, content_type="application/json", HTTP_AUTHORIZATION="Bearer a.b")

    assert_error(unknown, 409, "flash_sold_out")
    assert anonymous.status_code == 401
    assert malformed.status_code == 401


def test_an_idempotent_retry_of_a_placed_order_is_replayed_not_told_sold_out(settings, make_client):
    unlock_flash(settings)
    store, _, (a, late) = make_store(members=2)
    sku = SkuFactory(on_hand=5)
    flash_offer(sku=sku, quantity=1, per_user_limit=1)
    buyer = make_client(a)
    placed = buyer.post(ORDERS, _body(store, sku), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert placed.status_code == 201, placed.content
    assert_error(make_client(late).post(ORDERS, _body(store, sku), format="json"), 409, "flash_sold_out")

    retried = buyer.post(ORDERS, _body(store, sku), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert retried.status_code == 201
    assert retried["Idempotent-Replayed"] == "true"
    assert retried.json() == placed.json()
    assert Order.objects.filter(buyer=a).count() == 1


@pytest.mark.parametrize(
    "shape",
    ["two items", "a team", "too long", "a string id"],
)
def test_bodies_the_mark_cannot_answer_alone_go_to_the_view(
    marked, make_client, django_assert_max_num_queries, shape
):
    store, sku, late = marked
    other = SkuFactory(on_hand=5)
    body = {
        "two items": _body(store, sku, items=[{"sku_id": sku.pk, "qty": 1}, {"sku_id": other.pk, "qty": 1}]),
        "a team": _body(store, sku, team={"id": 1}),
        "too long": _body(store, sku, address={**ADDRESS, "detail": "长" * PEEK_MAX_BYTES}),
        "a string id": _body(store, sku, store_id=str(store.pk)),
    }[shape]
    client = make_client(late)

    with django_assert_max_num_queries(20) as queries:
        response = client.post(ORDERS, body, format="json")

    assert len(queries) >= 1  # the token at least: the view answered
    assert response.status_code in (400, 409), response.content


def test_a_body_that_is_not_json_gets_the_view_s_answer(marked, make_client):
    store, sku, late = marked
    client = make_client(late)

    broken = client.post(ORDERS, b'{"store_id": 1, "items": [', content_type="application/json")
    as_text = client.post(ORDERS, json.dumps(_body(store, sku)), content_type="text/plain")
    deep = client.post(ORDERS, "[" * 1500 + "]" * 1500, content_type="application/json")

    assert_error(broken, 400, "parse_error")
    assert as_text.status_code == 415
    assert deep.status_code == 400


def test_without_a_mark_the_peeked_body_still_reaches_the_view(settings, make_client):
    unlock_flash(settings)
    store, _, (a,) = make_store(members=1)
    sku = SkuFactory(on_hand=5)
    flash_offer(sku=sku, quantity=3, per_user_limit=1, price_fen=990)

    response = make_client(a).post(ORDERS, _body(store, sku), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["orders"][0]["items"][0]["unit_price_fen"] == 990


def test_another_stores_buyers_and_other_skus_are_not_answered_from_the_mark(
    marked, make_client, django_assert_max_num_queries
):
    store, sku, _ = marked
    other_store, _, (stranger,) = make_store(members=1)
    plain = SkuFactory(on_hand=5)
    member = UserFactory()

    theirs_client, member_client = make_client(stranger), make_client(member)

    with django_assert_max_num_queries(30) as queries:
        theirs = theirs_client.post(ORDERS, _body(other_store, sku), format="json")
        ordinary = member_client.post(ORDERS, _body(store, plain), format="json")

    assert len(queries) >= 2
    assert_error(theirs, 409, "flash_sold_out")  # from the offer row, by the view
    assert ordinary.status_code == 403  # not a member of the store: the view's answer


def test_a_buyer_the_mark_does_not_answer_has_it_read_once(settings, make_client, monkeypatch):
    from orders.api import flash_early, views

    reads = []

    def counted(**basket):
        reads.append(basket)

    monkeypatch.setattr(flash_early, "flash_sold_out_early", counted)
    monkeypatch.setattr(views, "flash_sold_out_early", counted)
    unlock_flash(settings)
    store, _, (a, b) = make_store(members=2)
    sku = SkuFactory(on_hand=5)
    flash_offer(sku=sku, quantity=3, per_user_limit=1)

    plain = make_client(a).post(ORDERS, _body(store, sku), format="json")
    keyed = make_client(b).post(ORDERS, _body(store, sku), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert plain.status_code == keyed.status_code == 201
    assert reads == [{"store_id": store.pk, "sku_id": sku.pk}] * 2  # once each: middleware, then view


def test_each_process_answers_from_its_copy_of_the_marks_renewed_every_moment(marked, monkeypatch):
    """Another process's mark is seen, and its wipe too, once this copy is MARKS_COPY_S old;
    no Redis call in between (orders/services/flash.py, ``_marks``)."""
    from orders.errors import FlashSoldOut
    from orders.services import flash

    store, sku, _ = marked
    client, clock = flash._redis(), [flash.time.time()]
    monkeypatch.setattr(flash.time, "time", lambda: clock[0])
    with pytest.raises(FlashSoldOut):
        flash.flash_sold_out_early(store_id=store.pk, sku_id=sku.pk)  # this process's own mark

    client.delete(flash._mark_key(sku.pk))  # wiped by another process (a give-back there)
    with pytest.raises(FlashSoldOut):
        flash.flash_sold_out_early(store_id=store.pk, sku_id=sku.pk)  # the copy is fresh
    clock[0] += flash.MARKS_COPY_S
    flash.flash_sold_out_early(store_id=store.pk, sku_id=sku.pk)  # read again: gone

    other = SkuFactory(on_hand=1)
    client.hset(flash._mark_key(other.pk), str(store.pk), f"1:{clock[0] + 3}")  # another's mark
    client.zadd(flash._marked_skus_key(), {str(other.pk): clock[0] + 3})
    flash.flash_sold_out_early(store_id=store.pk, sku_id=other.pk)  # not in this copy yet
    clock[0] += flash.MARKS_COPY_S
    with pytest.raises(FlashSoldOut):
        flash.flash_sold_out_early(store_id=store.pk, sku_id=other.pk)

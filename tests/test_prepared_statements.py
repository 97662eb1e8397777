"""The hot path's hand-written statements (shop/db.py ``execute``) with server-side prepared
statements on (a direct connection: the default) and off (``DB_PREPARED_STATEMENTS=0``, for a
transaction-mode pooler such as PgBouncer, where a ``PREPARE`` made in one transaction's
server session is gone in the next). Both must give the same answers and rows; off, not one
``PREPARE``/``EXECUTE`` may reach the server."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groupstore.tests.factories import make_store
from orders.models import Order
from orders.tests.helpers import ADDRESS, flash_offer, unlock_flash
from products.tests.factories import SkuFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


def _verbs(queries: CaptureQueriesContext) -> set[str]:
    return {q["sql"].split()[0].upper() for q in queries.captured_queries}


@pytest.fixture(params=[True, False], ids=["prepared", "plain"])
def prepared(request, settings) -> bool:
    settings.DB_PREPARED_STATEMENTS = request.param
    return request.param


def _order(client, store, sku, qty: int):
    return client.post(
        "/api/v1/orders",
        {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": qty}], "address": ADDRESS},
        format="json",
    )


def test_an_order_and_a_flash_sale_give_the_same_answers_either_way(prepared, settings, make_client):
    unlock_flash(settings)
    store, _, (buyer, rival) = make_store(members=2)
    sku = SkuFactory(on_hand=5, price_fen=1_990)
    flash_sku = SkuFactory(on_hand=3, price_fen=2_990)
    offer = flash_offer(sku=flash_sku, quantity=1, per_user_limit=1, price_fen=990)
    client, rival_client = make_client(buyer), make_client(rival)

    with CaptureQueriesContext(connection) as queries:
        plain = _order(client, store, sku, 2)
        flash = _order(client, store, flash_sku, 1)
        sold_out = _order(rival_client, store, flash_sku, 1)
        too_many = _order(rival_client, store, sku, 4)

    assert plain.status_code == flash.status_code == 201, (plain.content, flash.content)
    assert plain.json()["orders"][0]["paid_fen"] == 2 * 1_990
    assert flash.json()["orders"][0]["paid_fen"] == 990
    assert_error(sold_out, 409, "flash_sold_out")
    assert too_many.status_code == 409
    sku.refresh_from_db()
    flash_sku.refresh_from_db()
    offer.refresh_from_db()
    assert (sku.reserved, flash_sku.reserved, offer.sold_count) == (2, 1, 1)
    assert Order.objects.filter(buyer=buyer).count() == 2
    assert not Order.objects.filter(buyer=rival).exists()
    if prepared:  # prepared once per connection (maybe by an earlier test), executed here
        assert "EXECUTE" in _verbs(queries)
    else:
        assert not {"PREPARE", "EXECUTE", "DEALLOCATE"} & _verbs(queries)

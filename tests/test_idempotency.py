"""``Idempotency-Key`` on ``POST /orders`` (docs/api.md "Conventions", docs/design.md "Orders and
payments"): the same key from the same user returns the first response; while the first
is still running, 409; the same key with another body, 422."""

from __future__ import annotations

from unittest import mock

import pytest

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from products.models import Sku
from products.tests.factories import SkuFactory
from shop.api.idempotency import MAX_KEY_LENGTH
from shop.models import IdempotencyKey
from shop.payments.models import Payment
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


@pytest.fixture
def shop(make_client):
    """A store with two members who may buy one SKU (10 on hand) through it."""
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, on_hand=10)
    store, _, members = make_store(members=2)
    clients = [make_client(member) for member in members]
    return store, sku, clients


def checkout(store, sku, qty=1) -> dict:
    return {"store_id": store.pk, "items": [{"sku_id": sku.pk, "qty": qty}], "address": ADDRESS}


def post(client, body, key):
    return client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def reserved(sku) -> int:
    return Sku.objects.get(pk=sku.pk).reserved


def test_the_same_key_twice_returns_the_first_response_and_orders_once(shop):
    store, sku, (client, _) = shop

    first = post(client, checkout(store, sku), "key-1")
    second = post(client, checkout(store, sku), "key-1")

    assert first.status_code == second.status_code == 201, first.content
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert reserved(sku) == 1


def test_the_same_key_with_another_body_is_a_422(shop):
    store, sku, (client, _) = shop
    first = post(client, checkout(store, sku, qty=1), "key-1")
    assert first.status_code == 201

    response = post(client, checkout(store, sku, qty=2), "key-1")

    assert_error(response, 422, "idempotency_key_reused")
    assert Order.objects.count() == 1
    assert reserved(sku) == 1


def test_a_key_still_in_progress_is_a_409(shop):
    # given a first request whose process died before it stored its answer
    store, sku, (client, _) = shop
    assert post(client, checkout(store, sku), "key-1").status_code == 201
    IdempotencyKey.objects.filter(key="key-1").update(
        status=IdempotencyKey.Status.IN_PROGRESS, response_status=None, response_body=None
    )

    # when the client retries
    response = post(client, checkout(store, sku), "key-1")

    # then nothing is done twice
    assert_error(response, 409, "idempotency_key_in_progress")
    assert Order.objects.count() == 1
    assert reserved(sku) == 1


def test_different_users_with_the_same_key_are_independent(shop):
    store, sku, (first_client, second_client) = shop

    first = post(first_client, checkout(store, sku), "shared-key")
    second = post(second_client, checkout(store, sku), "shared-key")

    assert first.status_code == second.status_code == 201
    assert first.json()["payment"]["id"] != second.json()["payment"]["id"]
    assert Order.objects.count() == 2
    assert reserved(sku) == 2


def test_without_a_key_every_post_is_a_new_checkout(shop):
    store, sku, (client, _) = shop

    client.post("/api/v1/orders", checkout(store, sku), format="json")
    client.post("/api/v1/orders", checkout(store, sku), format="json")

    assert Order.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * (MAX_KEY_LENGTH + 1), id="too-long"),
        pytest.param("x" * 1000, id="far-too-long"),
        pytest.param("", id="empty"),
    ],
)
def test_an_unusable_key_is_a_400_and_orders_nothing(shop, key):
    store, sku, (client, _) = shop

    response = post(client, checkout(store, sku), key)

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"Idempotency-Key"}
    assert not Order.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert reserved(sku) == 0


def test_a_key_of_the_longest_length_is_accepted(shop):
    store, sku, (client, _) = shop

    response = post(client, checkout(store, sku), "k" * MAX_KEY_LENGTH)

    assert response.status_code == 201, response.content


def test_a_server_error_frees_the_key_for_a_retry(shop):
    # given a first attempt that fails on our side before anything is written
    store, sku, (client, _) = shop
    client.raise_request_exception = False
    with mock.patch("orders.api.views.order_place", side_effect=RuntimeError("database went away")):
        failed = post(client, checkout(store, sku), "key-1")
    assert_error(failed, 500, "internal_error")
    assert not IdempotencyKey.objects.exists()

    # when the client retries with the same key
    retried = post(client, checkout(store, sku), "key-1")

    # then the work is done, once
    assert retried.status_code == 201, retried.content
    assert Order.objects.count() == 1


def test_a_malformed_body_with_a_key_stores_no_key(shop):
    _, _, (client, _) = shop

    response = client.post(
        "/api/v1/orders",
        data='{"store_id": 1,',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    assert_error(response, 400, "parse_error")
    assert not IdempotencyKey.objects.exists()


def test_an_anonymous_request_with_a_key_stores_no_key(api_client, shop):
    store, sku, _ = shop

    response = post(api_client, checkout(store, sku), "key-1")

    assert_error(response, 401, "not_authenticated")
    assert not IdempotencyKey.objects.exists()


def test_a_key_that_cannot_be_checked_is_a_503_with_retry_after_and_nothing_moves(make_client):
    # issue 19 item 7: never a 500, never a second movement when the key store fails
    from django.db import OperationalError

    from accounts.tests.factories import UserFactory
    from rebates.models import Withdrawal
    from rebates.tests.helpers import fund_wallet

    member = UserFactory()
    fund_wallet(member, 5_000)
    client = make_client(member)

    with mock.patch.object(IdempotencyKey.objects, "create", side_effect=OperationalError("gone")):
        response = client.post(
            "/api/v1/wallet/withdrawals", {"amount_fen": 1_000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )

    assert_error(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) > 0
    assert not Withdrawal.objects.filter(user=member).exists()

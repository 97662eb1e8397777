"""Mass assignment: fields a caller must never set (owner, price, status, merchant, amounts,
role) are ignored when sent through the API; the server decides them."""

from __future__ import annotations

import pytest

from groupstore.models import Membership, Store
from merchants.models import Merchant
from orders.models import Order
from products.models import Product, Sku
from shop.payments.models import Payment
from tests.world import ADDRESS

pytestmark = pytest.mark.django_db


def test_a_new_store_belongs_to_the_caller_whatever_the_body_says(world, client_as):
    response = client_as("shopper").post(
        "/api/v1/stores",
        {
            "name": "我的群",
            "owner_id": world.other_owner.pk,
            "owner": world.other_owner.pk,
            "is_frozen": False,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["owner_id"] == world.shopper.pk
    assert Store.objects.get(pk=response.json()["id"]).owner_id == world.shopper.pk


def test_joining_never_makes_the_joiner_owner(world, client_as):
    response = client_as("other_shopper").post(
        "/api/v1/stores/join", {"share_token": world.share_token, "role": "owner"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "member"
    assert Store.objects.get(pk=world.store.pk).owner_id == world.owner.pk
    assert (
        Membership.objects.get(store=world.store, user=world.other_shopper).store.owner_id == world.owner.pk
    )


def test_a_merchant_cannot_move_a_product_to_another_merchant(world, client_as):
    response = client_as("merchant_user").patch(
        f"/api/v1/merchant/products/{world.product.pk}",
        {"title": "新标题", "merchant": world.other_merchant.pk, "merchant_id": world.other_merchant.pk},
        format="json",
    )

    assert response.status_code == 200, response.content
    product = Product.objects.get(pk=world.product.pk)
    assert (product.title, product.merchant_id) == ("新标题", world.merchant.pk)


def test_a_sku_change_cannot_touch_reservations_or_the_merchant(world, client_as):
    before = Sku.objects.get(pk=world.sku.pk)

    response = client_as("merchant_user").patch(
        f"/api/v1/merchant/skus/{world.sku.pk}",
        {"price_fen": 2_990, "reserved": 0, "merchant_id": world.other_merchant.pk, "product_id": 1},
        format="json",
    )

    assert response.status_code == 200, response.content
    after = Sku.objects.get(pk=world.sku.pk)
    assert after.price_fen == 2_990
    assert (after.reserved, after.merchant_id, after.product_id) == (
        before.reserved,
        world.merchant.pk,
        world.product.pk,
    )


def test_an_order_is_priced_and_owned_by_the_server(world, client_as):
    response = client_as("member").post(
        "/api/v1/orders",
        {
            "store_id": world.store.pk,
            "items": [{"sku_id": world.sku.pk, "qty": 2, "unit_price_fen": 1, "price_kind": "flash"}],
            "address": ADDRESS,
            "total_fen": 1,
            "amount_fen": 1,
            "status": "paid",
            "buyer_id": world.other_shopper.pk,
            "merchant_id": world.other_merchant.pk,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["orders"][0]["id"])
    assert (order.buyer_id, order.merchant_id, order.status) == (
        world.member.pk,
        world.merchant.pk,
        Order.Status.PENDING_PAYMENT,
    )
    assert response.json()["payment"]["amount_fen"] == 2 * 1_990
    assert Payment.objects.get(pk=response.json()["payment"]["id"]).amount_fen == 2 * 1_990


def test_a_merchant_application_starts_pending_whatever_the_body_says(world, client_as):
    response = client_as("member").post(
        "/api/v1/merchant/applications",
        {
            "company_name": "新公司",
            "licence_no": "91310000MA99999999",
            "contact_phone": "021-1234",
            "category_ids": [world.product.category_id],
            "status": "approved",
            "deposit_fen": 10**9,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    merchant = Merchant.objects.get(pk=response.json()["id"])
    assert merchant.status == Merchant.Status.PENDING


def test_a_deposit_is_paid_only_through_the_gateway(world, client_as):
    response = client_as("merchant_user").post(
        "/api/v1/merchant/deposits", {"amount_fen": 50_000, "status": "succeeded"}, format="json"
    )

    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["payment"]["id"])
    assert payment.status == Payment.Status.CREATED
    assert payment.amount_fen == 50_000

"""Ops actions in admin call the services: reject with a reason, deduct a deposit,
block a product; every page of these models opens."""

import pytest

from accounts.tests.factories import UserFactory
from merchants.models import DepositMovement, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.tests.factories import MerchantFactory, MerchantStaffFactory, pay_deposit
from products.models import Product
from products.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "merchants/merchant",
    "merchants/merchantstaff",
    "merchants/depositmovement",
    "payments/refund",
    "merchants/stockupload",
    "products/product",
    "products/category",
    "products/sku",
    "products/productstatuschange",
]


@pytest.mark.parametrize("page", PAGES)
def test_admin_pages_open(admin_client, page):
    staff = MerchantStaffFactory()
    pay_deposit(staff.merchant, 10_000, payer=staff.user)
    ProductFactory(merchant=staff.merchant)

    assert admin_client.get(f"/admin/{page}/").status_code == 200
    assert admin_client.get("/admin/merchants/stockupload/import/").status_code == 200
    assert admin_client.get(f"/admin/merchants/merchant/{staff.merchant.pk}/change/").status_code == 200


def test_reject_asks_for_a_reason_then_rejects(admin_client):
    merchant = MerchantFactory(status=Merchant.Status.PENDING)
    action = {"action": "reject", "_selected_action": [merchant.pk]}

    form_page = admin_client.post("/admin/merchants/merchant/", action)
    done = admin_client.post("/admin/merchants/merchant/", {**action, "apply": "1", "reason": "执照过期"})

    assert form_page.status_code == 200
    assert "reason" in form_page.content.decode()
    assert done.status_code == 302
    merchant.refresh_from_db()
    assert (merchant.status, merchant.rejection_reason) == ("rejected", "执照过期")


def test_deduct_from_admin_with_compensation(admin_client):
    staff = MerchantStaffFactory()
    pay_deposit(staff.merchant, 100_000, payer=staff.user)
    buyer = UserFactory()
    action = {"action": "deduct_deposit", "_selected_action": [staff.merchant.pk]}
    form = {
        **action,
        "apply": "1",
        "amount_fen": "30000",
        "reason_code": "out_of_stock",
        "note": "订单 88 缺货未发",
        "buyer_id": str(buyer.pk),
        "compensation_fen": "10000",
        "order_ref": "88",
        "request_key": "abc123",
    }

    admin_client.post("/admin/merchants/merchant/", form)
    admin_client.post("/admin/merchants/merchant/", form)  # the double submit

    movement = DepositMovement.objects.get(kind="deducted")
    assert (movement.amount_fen, movement.compensation_fen, movement.buyer, movement.order_ref) == (
        -30_000,
        10_000,
        buyer,
        88,
    )
    assert movement.actor.is_superuser
    assert merchant_deposit_balance(merchant_id=staff.merchant.pk) == 70_000


def test_block_asks_for_a_reason_the_merchant_sees(admin_client):
    product = ProductFactory(status=Product.Status.ON_SALE)

    admin_client.post(
        "/admin/products/product/",
        {
            "action": "block",
            "_selected_action": [product.pk],
            "apply": "1",
            "reason": "疑似假货，请提供授权书",
        },
    )

    product.refresh_from_db()
    assert (product.status, product.status_reason) == ("blocked", "疑似假货，请提供授权书")

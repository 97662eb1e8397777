"""The whole purchase path through a group store, through the API, in one process.

The same path against a real Celery worker is in ``tests/e2e/``; this one pins the
exact money at every step.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from merchants.tests.factories import MerchantStaffFactory
from products.tests.factories import SkuFactory
from shop.ledger.models import Account

pytestmark = pytest.mark.django_db

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


def login(api_client, code):
    response = api_client.post("/api/v1/auth/wechat-login", {"code": code}, format="json")
    assert response.status_code == 200, response.content
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return response.json()["user"]


@pytest.fixture
def shop_setup(make_client):
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000, on_hand=10)
    return staff, sku


def test_buy_through_a_group_store_and_settle(shop_setup, make_client, django_capture_on_commit_callbacks):
    staff, sku = shop_setup
    from rest_framework.test import APIClient

    owner_client, member_client = APIClient(), APIClient()
    owner = login(owner_client, "sandbox:owner-1")
    member = login(member_client, "sandbox:member-1")

    # Given a store, shared to a member
    store = owner_client.post("/api/v1/stores", {"name": "宝妈团"}, format="json").json()
    assert store["owner_id"] == owner["id"]
    joined = member_client.post("/api/v1/stores/join", {"share_token": store["share_token"]}, format="json")
    assert joined.status_code == 200
    assert joined.json()["role"] == "member"

    # When the member orders 1 × ¥19.90 and pays
    created = member_client.post(
        "/api/v1/orders",
        {"store_id": store["id"], "items": [{"sku_id": sku.pk, "qty": 1}], "address": ADDRESS},
        format="json",
    )
    assert created.status_code == 201, created.content
    order = created.json()["orders"][0]
    payment = created.json()["payment"]
    assert payment["amount_fen"] == 1_990
    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved) == (10, 1)

    paid = member_client.post(f"/api/v1/sandbox/payments/{payment['id']}/pay")
    assert paid.status_code == 200
    assert paid.json()["status"] == "succeeded"
    assert member_client.get(f"/api/v1/orders/{order['id']}").json()["status"] == "paid"

    # Then commission is pending: 199 = 59 (member) + 119 (owner) + 21 (platform)
    assert member_client.get("/api/v1/wallet").json()["pending_fen"] == 59
    assert owner_client.get("/api/v1/wallet").json()["pending_fen"] == 119

    # Ship, receive, let the after-sales window close, settle
    merchant_client = make_client(staff.user)
    shipped = merchant_client.post(
        f"/api/v1/merchant/orders/{order['id']}/ship",
        {"carrier": "SF", "tracking_no": "SF1234567890"},
        format="json",
    )
    assert shipped.status_code == 200, shipped.content
    assert shipped.json()["address"]["phone"] == ADDRESS["phone"]
    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved) == (9, 0)
    received = member_client.post(f"/api/v1/orders/{order['id']}/confirm-receipt")
    assert received.json()["status"] == "received"

    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_sweepers", now=(timezone.now() + timedelta(days=8)).isoformat())

    assert member_client.get(f"/api/v1/orders/{order['id']}").json()["status"] == "completed"
    assert member_client.get("/api/v1/wallet").json() == {
        "available_fen": 59,
        "pending_fen": 0,
        "held_fen": 0,
        "withdrawable_fen": 59,
    }
    assert owner_client.get("/api/v1/wallet").json()["available_fen"] == 119
    # The platform keeps 21 of the commission, of which 5,000 bps (10) fund the store's red
    # envelope, plus its 60 bps fee on the goods: floor(1,990 × 0.006) = 11.
    assert Account.objects.get(kind="platform_revenue").balance_fen == 21 - 10 + 11
    assert Account.objects.get(kind="red_envelope_pool").balance_fen == 10
    # Completed: the receivable left after commission is now owed to the merchant, less the fee.
    assert Account.objects.get(kind="merchant_receivable").balance_fen == 0
    assert Account.objects.get(kind="merchant_payable").balance_fen == 1_990 - 199 - 11

    dashboard = owner_client.get(f"/api/v1/stores/{store['id']}/dashboard").json()
    assert dashboard == {
        "gmv_fen": 1_990,
        "members_count": 2,
        "orders_count": 1,
        "commission_pending_fen": 0,
        "commission_settled_fen": 119,
        "commission_clawed_back_fen": 0,
        "flash_unlocked": False,
    }
    members = owner_client.get(f"/api/v1/stores/{store['id']}/members").json()["results"]
    by_user = {m["user_id"]: m for m in members}
    assert by_user[member["id"]]["paid_fen"] == 1_990
    assert by_user[member["id"]]["saved_fen"] == 59
    assert "phone" not in str(members)
    call_command("ledger_check")

    # Settling again pays nothing twice
    from rebates.services.settlement import orders_settle

    assert orders_settle(order_ids=[order["id"]]) == 0
    assert member_client.get("/api/v1/wallet").json()["available_fen"] == 59

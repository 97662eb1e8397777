"""Issue 2's path over real HTTP (live server), with settlement done by a real Celery
worker process consuming from Redis, on PostgreSQL. Asserts the exact fen amounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from demo.seed import seed_catalog
from products.models import Sku

from .conftest import wait_for

pytestmark = [pytest.mark.e2e]

ADDRESS = {"name": "王五", "phone": "13700137000", "region": "广东省 深圳市 南山区", "detail": "科技园 1 栋"}


class Api:
    """A tiny HTTP client for one logged-in mini-program user."""

    def __init__(self, base: str, code: str):
        self.base = base.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        answer = self.session.post(f"{self.base}/auth/wechat-login", json={"code": code}, timeout=10)
        answer.raise_for_status()
        self.user = answer.json()["user"]
        self.session.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def get(self, path: str, expect: int = 200) -> dict:
        answer = self.session.get(self.base + path, timeout=10)
        assert answer.status_code == expect, (path, answer.status_code, answer.text[:500])
        return answer.json()

    def post(self, path: str, body: dict | None = None, expect: int = 200) -> dict:
        answer = self.session.post(self.base + path, json=body or {}, timeout=10)
        assert answer.status_code == expect, (path, answer.status_code, answer.text[:500])
        return answer.json()


def test_purchase_path_settles_through_a_real_worker(live_server, real_celery):
    purchase_path_settles(live_server.url)


def purchase_path_settles(base_url: str) -> None:
    """A store, a member's order, payment, shipping, receipt and the worker's settlement,
    with the exact fen amounts; ``ledger_check`` after it."""
    # Given the seeded merchant and catalog (approved, deposit paid)
    seed_catalog(lambda _: None)
    sku = Sku.objects.get(code="VD-100-12")  # ¥26.90, 1,000 bps
    owner = Api(base_url, "sandbox:e2e-owner")
    member = Api(base_url, "sandbox:e2e-member")
    merchant = Api(base_url, "sandbox:demo-merchant")

    # A shopper creates a store; another joins through its share link
    store = owner.post("/stores", {"name": "E2E 团购群"}, expect=201)
    assert member.post("/stores/join", {"share_token": store["share_token"]})["role"] == "member"

    # The member orders 2 units through the store, stock is reserved, and pays
    checkout = member.post(
        "/orders",
        {"store_id": store["id"], "items": [{"sku_id": sku.pk, "qty": 2}], "address": ADDRESS},
        expect=201,
    )
    order_id = checkout["orders"][0]["id"]
    assert checkout["payment"]["amount_fen"] == 5_380
    assert member.get(f"/products/{sku.product_id}")["skus"][1]["stock"] == sku.on_hand - 2
    assert member.post(f"/sandbox/payments/{checkout['payment']['id']}/pay")["status"] == "succeeded"

    # Ship, confirm receipt, and let the after-sales window close (time travel via --now)
    merchant.post(f"/merchant/orders/{order_id}/ship", {"carrier": "顺丰", "tracking_no": "SF100200300"})
    member.post(f"/orders/{order_id}/confirm-receipt")
    call_command("run_sweepers", now=(timezone.now() + timedelta(days=7, minutes=1)).isoformat())
    assert member.get(f"/orders/{order_id}")["status"] == "completed"

    # The worker settles: 5,380 × 10% = 538 → member 30% = 161, owner 60% = 322, platform 55
    wallet = wait_for(
        lambda: (w := member.get("/wallet"))["available_fen"] and w, what="the member's rebate to settle"
    )
    assert wallet == {"available_fen": 161, "pending_fen": 0, "held_fen": 0, "withdrawable_fen": 161}
    assert owner.get("/wallet")["available_fen"] == 322

    dashboard = owner.get(f"/stores/{store['id']}/dashboard")
    assert dashboard["gmv_fen"] == 5_380
    assert dashboard["commission_settled_fen"] == 322
    assert dashboard["commission_pending_fen"] == 0
    members = {m["user_id"]: m for m in owner.get(f"/stores/{store['id']}/members")["results"]}
    assert members[member.user["id"]]["paid_fen"] == 5_380
    assert members[member.user["id"]]["saved_fen"] == 161
    call_command("ledger_check")


def test_healthz_sees_the_worker(live_server, real_celery):
    answer = requests.get(f"{live_server.url}/healthz", timeout=10).json()
    assert answer == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok", "worker": "ok"},
    }

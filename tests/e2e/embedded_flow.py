"""A purchase on the embedded default (SQLite + Celery's filesystem broker), as ``make run``
serves it: run by ``test_embedded_default.py`` in a process of its own, with the settings
``make run`` uses (``shop.settings.base``, no ``DATABASE_URL``, no ``REDIS_URL``), while a
real worker consumes the filesystem broker.

A demo member buys through the API, pays in the sandbox; the demo merchant ships; the
buyer confirms receipt; ``run_sweepers --now`` (8 days on) completes the order, whose
settlement task goes through the broker to the worker. Prints one JSON line of what it
saw for the test to check.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta


def _login(client, code: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/wechat-login", {"code": code}, content_type="application/json")
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['token']}"}


def main() -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from demo.catalog import MEMBER_OPENIDS, MERCHANT_OPENID

    client = Client()
    buyer = _login(client, f"sandbox:{MEMBER_OPENIDS[0]}")
    merchant = _login(client, f"sandbox:{MERCHANT_OPENID}")
    store_id = client.get("/api/v1/stores", **buyer).json()["results"][0]["id"]
    product_id = client.get("/api/v1/products", **buyer).json()["results"][0]["id"]
    sku = client.get(f"/api/v1/products/{product_id}", **buyer).json()["skus"][0]
    body = {
        "store_id": store_id,
        "items": [{"sku_id": sku["id"], "qty": 1}],
        "address": {
            "name": "张三",
            "phone": "13800000000",
            "region": "浙江省杭州市",
            "detail": "文三路 1 号",
        },
    }
    placed = client.post("/api/v1/orders", body, content_type="application/json", **buyer)
    assert placed.status_code == 201, placed.content
    order_id = placed.json()["orders"][0]["id"]
    payment_id = placed.json()["payment"]["id"]
    paid = client.post(f"/api/v1/sandbox/payments/{payment_id}/pay", **buyer)
    assert paid.status_code == 200, paid.content
    shipped = client.post(
        f"/api/v1/merchant/orders/{order_id}/ship",
        {"carrier": "SF", "tracking_no": "SF1000000001"},
        content_type="application/json",
        **merchant,
    )
    assert shipped.status_code == 200, shipped.content
    received = client.post(f"/api/v1/orders/{order_id}/confirm-receipt", **buyer)
    assert received.status_code == 200, received.content
    pending = client.get("/api/v1/wallet", **buyer).json()

    call_command("run_sweepers", "--now", (timezone.now() + timedelta(days=8)).isoformat())
    deadline = time.monotonic() + 60
    wallet = client.get("/api/v1/wallet", **buyer).json()
    while wallet["available_fen"] == pending["available_fen"] and time.monotonic() < deadline:
        time.sleep(0.5)  # the worker settles it from the filesystem broker
        wallet = client.get("/api/v1/wallet", **buyer).json()
    order = client.get(f"/api/v1/orders/{order_id}", **buyer).json()
    unknown = client.get("/api/v1/no-such-thing")
    return {
        "order_status": order["status"],
        "pending_before": pending,
        "wallet": wallet,
        "unknown_url": [unknown.status_code, unknown["Content-Type"]],
        "vendor": __import__("django.db").db.connection.vendor,
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.base")
    sys.stdout.write(json.dumps(main()) + "\n")

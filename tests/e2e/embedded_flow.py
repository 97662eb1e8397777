"""A purchase on the embedded default (SQLite + Celery's filesystem broker), as ``make run``
serves it: run by ``test_embedded_default.py`` in a process of its own, with the settings
``make run`` uses (``shop.settings.base``, no ``DATABASE_URL``, no ``REDIS_URL``), while a
real worker consumes the filesystem broker.

A demo member buys through the API, pays in the sandbox — by profit sharing, the default:
into the demo merchant's frozen funds at the sandbox e-commerce gateway; the demo merchant
ships; the buyer confirms receipt; ``run_sweepers --now`` (8 days on) completes the order,
whose settlement task goes through the broker to the worker, which sends the share, polls it
to ``FINISHED`` (the rebate is released then) and unfreezes the rest. Prints one JSON line of
what it saw for the test to check.
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
    sandbox_before = _sandbox_balances()
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
    deadline = time.monotonic() + 90
    wallet = client.get("/api/v1/wallet", **buyer).json()
    while time.monotonic() < deadline and not (
        wallet["available_fen"] != pending["available_fen"]
        and _steps(order_id).get("unfreeze") == "confirmed"
    ):
        time.sleep(0.5)  # the worker settles, shares and unfreezes it from the filesystem broker
        wallet = client.get("/api/v1/wallet", **buyer).json()
    order = client.get(f"/api/v1/orders/{order_id}", **buyer).json()
    unknown = client.get("/api/v1/no-such-thing")
    return {
        "order_status": order["status"],
        "pending_before": pending,
        "wallet": wallet,
        "unknown_url": [unknown.status_code, unknown["Content-Type"]],
        "vendor": __import__("django.db").db.connection.vendor,
        "sandbox_before": sandbox_before,
        **_funds(payment_id, order_id),
    }


def _steps(order_id: int) -> dict[str, str]:
    from shop.payments.models import FundsStep

    return dict(FundsStep.objects.filter(order_id=order_id).values_list("kind", "status"))


def _sandbox_balances() -> dict[str, int]:
    """The demo merchant's balances at the sandbox e-commerce gateway (its sub_mchid's)."""
    from demo.catalog import MERCHANT_OPENID
    from merchants.models import Merchant
    from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway

    merchant = Merchant.objects.get(staff__user__openid=MERCHANT_OPENID)
    return SandboxEcommerceGateway().balances(merchant.sub_mchid)


def _funds(payment_id: int, order_id: int) -> dict:
    """How the order was paid and where its money is: the payment's ``funds``, its steps, what
    the ledger still holds frozen for the order, the sandbox's balances of the merchant."""
    from django.conf import settings

    from shop.payments.models import FundsStep, Payment, PaymentPart
    from shop.payments.steps_ledger import order_frozen_fen

    part = PaymentPart.objects.filter(order_id=order_id).first()
    steps = FundsStep.objects.filter(order_id=order_id)
    return {
        "merchant_funds_setting": settings.MERCHANT_FUNDS,
        "payment_funds": Payment.objects.get(pk=payment_id).funds,
        "steps": _steps(order_id),
        "share_fen": sum(steps.filter(kind="share").values_list("amount_fen", flat=True)),
        "unfrozen_fen": sum(steps.filter(kind="unfreeze").values_list("amount_fen", flat=True)),
        "part_fen": part.amount_fen if part else None,
        "order_frozen_fen": order_frozen_fen(order_id=order_id, merchant_id=part.merchant_id)
        if part
        else None,
        "sandbox": _sandbox_balances(),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings.base")
    sys.stdout.write(json.dumps(main()) + "\n")

"""Orders brought about through the real services (checkout, signed sandbox callbacks)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from orders.models import Coupon, FlashOffer, Order
from orders.services.checkout import CheckoutResult, order_create
from products.tests.factories import SkuFactory
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payment
from shop.payments.parts import payment_parts_sandbox_pay
from shop.payments.services import Applied, payment_apply_result

ADDRESS = {"name": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


def sandbox_pay(payment: Payment) -> Applied:
    if payment.is_shared:  # paid into the merchants' frozen funds (shop/payments/parts.py)
        return payment_parts_sandbox_pay(payment)
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    return payment_apply_result(
        gateway="sandbox", result=gateway.parse_payment_callback(headers=headers, body=body)
    )


def buy(
    *, buyer, store, sku, qty: int = 1, team: dict | None = None, coupon_id=None, now=None
) -> CheckoutResult:
    return order_create(
        buyer=buyer,
        store_id=store.pk,
        items=[{"sku_id": sku.pk, "qty": qty}],
        address=ADDRESS,
        gateway="sandbox",
        team=team,
        coupon_id=coupon_id,
        now=now,
    )


def buy_paid(**kwargs) -> Order:
    result = buy(**kwargs)
    assert sandbox_pay(result.payment) == Applied.APPLIED
    order = result.orders[0]
    order.refresh_from_db()
    return order


def team_sku(**kwargs):
    defaults = {"price_fen": 2_990, "team_price_fen": 1_990, "team_size": 3, "on_hand": 100}
    return SkuFactory(**{**defaults, **kwargs})


def flash_offer(
    *, sku, quantity: int = 10, per_user_limit: int = 1, price_fen: int = 990, now=None, **kwargs
):
    """An offer, approved unless ``status`` says otherwise (a live one by default)."""
    now = now or timezone.now()
    return FlashOffer.objects.create(
        sku=sku,
        status=kwargs.pop("status", FlashOffer.Status.APPROVED),
        flash_price_fen=price_fen,
        starts_at=kwargs.pop("starts_at", now - timedelta(minutes=5)),
        ends_at=kwargs.pop("ends_at", now + timedelta(hours=1)),
        quantity=quantity,
        per_user_limit=per_user_limit,
        **kwargs,
    )


def coupon(*, user, amount_fen: int = 500, min_spend_fen: int = 0, expires_at: datetime | None = None, **kw):
    return Coupon.objects.create(
        user=user,
        amount_fen=amount_fen,
        min_spend_fen=min_spend_fen,
        expires_at=expires_at or timezone.now() + timedelta(days=7),
        source=kw.pop("source", Coupon.Source.CAMPAIGN),
        source_ref=kw.pop("source_ref", f"test:{Coupon.objects.count()}:{user.pk}:{amount_fen}"),
        **kw,
    )


def unlock_flash(settings) -> None:
    """Every store has unlocked flash prices (threshold 0)."""
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 0}

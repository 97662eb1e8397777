"""A small shop for the assistant's tests: one merchant, one store, a buyer and a
stranger, and orders brought to each state by the real services (rebates/tests/helpers)."""

from __future__ import annotations

from django.utils import timezone

from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from orders.services.lifecycle import order_cancel, order_confirm_receipt, order_ship
from orders.services.refunds import order_refund_full
from orders.tests.helpers import buy_paid, team_sku
from products.tests.factories import SkuFactory
from rebates.tests.helpers import make_completed_orders, make_paid_order, make_pending_order

ASK = "/api/v1/assistant/messages"


class Shop:
    def __init__(self) -> None:
        self.staff = MerchantStaffFactory()
        self.merchant = self.staff.merchant
        self.sku = SkuFactory(
            product__merchant=self.merchant,
            product__title="抽纸10包装",
            price_fen=1_990,
            commission_bps=1_000,
            on_hand=50,
        )
        self.store, _, (self.buyer, self.stranger, self.third) = make_store(members=3)

    def order(self, status: str, *, buyer=None, sku=None) -> Order:
        """A fresh order of ``buyer`` (default: the buyer) in ``status``."""
        buyer, sku = buyer or self.buyer, sku or self.sku
        if status == "pending_payment":
            return make_pending_order(buyer=buyer, store=self.store, sku=sku)
        if status == "completed":
            return make_completed_orders(
                buyers=[buyer], store=self.store, sku=sku, merchant_user=self.staff.user
            )[0]
        if status == "cancelled":
            order = make_pending_order(buyer=buyer, store=self.store, sku=sku)
            order_cancel(order_id=order.pk, actor=buyer)
            return _fresh(order)
        order = make_paid_order(buyer=buyer, store=self.store, sku=sku)
        if status == "refunded":
            order_refund_full(order_id=order.pk, reason="test", actor=None)
            return _fresh(order)
        if status in ("shipped", "received"):
            order_ship(
                order_id=order.pk,
                merchant_id=self.merchant.pk,
                carrier="顺丰",
                tracking_no=f"SF{order.pk:010d}",
                actor=self.staff.user,
            )
        if status == "received":
            order_confirm_receipt(order_id=order.pk, actor=buyer, now=timezone.now())
        return _fresh(order)

    def team_order(self, *, buyer=None) -> Order:
        """A paid order waiting for its team (1 of 3 paid)."""
        sku = team_sku(product__merchant=self.merchant, product__title="拼团苹果5斤")
        return _fresh(buy_paid(buyer=buyer or self.buyer, store=self.store, sku=sku, team={"open": True}))


def _fresh(order: Order) -> Order:
    order.refresh_from_db()
    return order

"""Price quote and order creation (DESIGN.md "Orders and payments")."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groupstore.errors import StoreFrozen
from groupstore.selectors import store_flash_unlocked, store_require_buyer_membership, store_stats
from orders.errors import InvalidCheckout
from orders.models import Order, OrderEvent, OrderItem
from products.errors import OutOfStock, SkuNotOnSale
from products.models import Product, Sku
from products.selectors import skus_for_checkout
from products.services import sku_reserve_stock
from shop.payments.models import Payment
from shop.payments.services import payment_create

CHECKOUT_PURPOSE = "order_checkout"


@dataclass
class QuoteLine:
    sku: Sku
    qty: int
    price_kind: str
    list_price_fen: int
    unit_price_fen: int

    @property
    def sale_fen(self) -> int:
        return self.unit_price_fen * self.qty

    @property
    def list_fen(self) -> int:
        return self.list_price_fen * self.qty

    @property
    def discount_fen(self) -> int:
        return self.list_fen - self.sale_fen


@dataclass
class Quote:
    store_id: int
    lines: list[QuoteLine]
    by_merchant: dict[int, list[QuoteLine]] = field(default_factory=dict)

    @property
    def list_fen(self) -> int:
        return sum(line.list_fen for line in self.lines)

    @property
    def sale_fen(self) -> int:
        return sum(line.sale_fen for line in self.lines)

    @property
    def coupon_fen(self) -> int:
        return 0

    @property
    def paid_fen(self) -> int:
        return self.sale_fen - self.coupon_fen


def _price_kind(*, sku: Sku, flash_unlocked: bool) -> tuple[str, int]:
    """The rule that picks a line's price: the flash price once the store has unlocked
    it, else the list price. (Team prices come with team purchase.)"""
    if flash_unlocked and sku.flash_price_fen and sku.flash_price_fen < sku.price_fen:
        return OrderItem.PriceKind.FLASH, sku.flash_price_fen
    return OrderItem.PriceKind.NORMAL, sku.price_fen


def checkout_quote(*, buyer, store_id: int, items: list[dict]) -> Quote:
    """Price a basket bought through a store. Refuses non-members (403), unknown SKUs
    and duplicates (400), items not on sale or beyond stock (409). Writes nothing."""
    store = store_require_buyer_membership(store_id=store_id, user=buyer)
    if store.is_frozen:
        raise StoreFrozen()
    sku_ids = [item["sku_id"] for item in items]
    if len(set(sku_ids)) != len(sku_ids):
        raise InvalidCheckout(fields={"items": ["Each item may appear once; set its qty instead."]})
    skus = skus_for_checkout(sku_ids=sku_ids)
    missing = {f"items.{i}.sku_id": ["No such item."] for i, sid in enumerate(sku_ids) if sid not in skus}
    if missing:
        raise InvalidCheckout(fields=missing)

    flash_unlocked = store_flash_unlocked(stats=store_stats(store_id=store.pk))
    quote = Quote(store_id=store.pk, lines=[])
    for item in items:
        sku = skus[item["sku_id"]]
        if sku.product.status != Product.Status.ON_SALE:
            raise SkuNotOnSale(f"{sku.product.title} is not on sale.", sku_id=sku.pk)
        if item["qty"] > sku.available:
            # Early answer for the cart; the conditional UPDATE in sku_reserve_stock stays the guard.
            raise OutOfStock(f"Only {sku.available} of {sku.product.title} left.", sku_id=sku.pk)
        kind, unit = _price_kind(sku=sku, flash_unlocked=flash_unlocked)
        line = QuoteLine(
            sku=sku, qty=item["qty"], price_kind=kind, list_price_fen=sku.price_fen, unit_price_fen=unit
        )
        quote.lines.append(line)
    by_merchant: dict[int, list[QuoteLine]] = defaultdict(list)
    for line in quote.lines:
        by_merchant[line.sku.merchant_id].append(line)
    quote.by_merchant = dict(by_merchant)
    return quote


@dataclass
class CheckoutResult:
    orders: list[Order]
    payment: Payment


@transaction.atomic
def order_create(
    *, buyer, store_id: int, items: list[dict], address: dict, gateway: str, now: datetime | None = None
) -> CheckoutResult:
    """One order per merchant under one payment, stock reserved atomically.

    Prices and commission rates are snapshotted on the items. Stock is reserved last,
    in SKU-id order, each by one conditional UPDATE: the row locks are held only until
    commit and two checkouts cannot deadlock. Out of stock rolls everything back.
    """
    now = now or timezone.now()
    quote = checkout_quote(buyer=buyer, store_id=store_id, items=items)
    rules = settings.SHOP_RULES
    store_owner_id = store_require_buyer_membership(store_id=store_id, user=buyer).owner_id
    payment = payment_create(
        purpose=CHECKOUT_PURPOSE,
        payer_id=buyer.pk,
        amount_fen=quote.paid_fen,
        gateway=gateway,
        description=quote.lines[0].sku.product.title + (" 等" if len(quote.lines) > 1 else ""),
    )
    orders = []
    for merchant_id, lines in sorted(quote.by_merchant.items()):
        sale = sum(line.sale_fen for line in lines)
        order = Order.objects.create(
            buyer=buyer,
            merchant_id=merchant_id,
            store_id=quote.store_id,
            payment=payment,
            is_self_purchase=buyer.pk == store_owner_id,
            list_fen=sum(line.list_fen for line in lines),
            sale_fen=sale,
            coupon_fen=0,
            paid_fen=sale,
            address=address,
            pay_deadline_at=now + rules["UNPAID_ORDER_TIMEOUT"],
        )
        OrderItem.objects.bulk_create(
            [
                OrderItem(
                    order=order,
                    sku=line.sku,
                    product_title=line.sku.product.title,
                    spec=line.sku.spec,
                    qty=line.qty,
                    price_kind=line.price_kind,
                    list_price_fen=line.list_price_fen,
                    unit_price_fen=line.unit_price_fen,
                    sale_fen=line.sale_fen,
                    coupon_fen=0,
                    paid_fen=line.sale_fen,
                    commission_bps=line.sku.commission_bps,
                    member_share_bps=rules["MEMBER_REBATE_SHARE_BPS"],
                    owner_share_bps=rules["OWNER_COMMISSION_SHARE_BPS"],
                )
                for line in lines
            ]
        )
        OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.CREATED, actor=buyer)
        orders.append(order)
    for line in sorted(quote.lines, key=lambda line: line.sku.pk):
        sku_reserve_stock(sku_id=line.sku.pk, qty=line.qty)
    return CheckoutResult(orders=orders, payment=payment)

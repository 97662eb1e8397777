"""Stock moves. Each is one conditional UPDATE: no read-then-write window, no lock queue.

``on_hand`` counts units not yet shipped, ``reserved`` those held by orders; an order
reserves (available must cover it), cancel/time-out/refund-before-shipping release,
shipping takes the units off both. A merchant's absolute upload sets ``on_hand`` only.
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Greatest

from .errors import OutOfStock
from .models import Product, Sku


def sku_reserve_stock(*, sku_id: int, qty: int) -> None:
    """Hold ``qty`` units or raise ``OutOfStock``. Available never goes below zero."""
    taken = Sku.objects.filter(pk=sku_id, on_hand__gte=F("reserved") + qty).update(
        reserved=F("reserved") + qty
    )
    if taken != 1:
        raise OutOfStock(f"Only part of the requested quantity of item {sku_id} is in stock.", sku_id=sku_id)


def sku_release_stock(*, sku_id: int, qty: int) -> None:
    """Give held units back (cancel, unpaid time-out, refund before shipping)."""
    Sku.objects.filter(pk=sku_id).update(reserved=Greatest(F("reserved") - qty, 0))


def sku_ship_stock(*, sku_id: int, qty: int) -> None:
    """Held units leave the warehouse: off ``reserved`` and off ``on_hand``; sales counted."""
    Sku.objects.filter(pk=sku_id).update(
        reserved=Greatest(F("reserved") - qty, 0),
        on_hand=Greatest(F("on_hand") - qty, 0),
        sales_count=F("sales_count") + qty,
    )
    Product.objects.filter(skus__pk=sku_id).update(sales_count=F("sales_count") + qty)


def product_refresh_min_price(*, product_id: int) -> None:
    prices = list(Sku.objects.filter(product_id=product_id).values_list("price_fen", flat=True))
    Product.objects.filter(pk=product_id).update(min_price_fen=min(prices) if prices else 0)

"""The shipping list: the merchant's paid orders waiting to be shipped, one row each, with
what it takes to ship them.

The same privacy rule as the merchant's order API (``MerchantOrderOutput``): the merchant
ships the parcel, so it sees the buyer's delivery address (name, phone, region, detail),
or, for a parcel bound for a leader's pickup point, the point and the leader's contact.
Never the pickup code (the buyer shows it to the leader) and nothing else of the buyer.

The first three columns are ``order_no, carrier, tracking_no`` with the last two empty:
the merchant fills them in and uploads the same file back as the tracking-number file
(``orders.services.tracking_upload``), which reads those three columns by their header.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Prefetch
from django.utils import timezone

from .models import Order, OrderItem

SHIPPING_LIST_COLUMNS = (
    "order_no",
    "carrier",
    "tracking_no",
    "paid_at",
    "items",
    "delivery_type",
    "recipient",
    "phone",
    "region",
    "address",
    "pickup_point",
)
CHUNK = 2_000  # orders read per query while the file is written


def _items_text(order: Order) -> str:
    parts = []
    for item in order.items.all():
        qty = item.qty - item.refunded_qty
        if qty <= 0:
            continue  # refunded before shipping: nothing to pack
        spec = " ".join(str(v) for v in (item.spec or {}).values())
        parts.append(f"{item.product_title}{f' ({spec})' if spec else ''} × {qty}")
    return "; ".join(parts)


def _row(order: Order) -> list:
    paid_at = timezone.localtime(order.paid_at).strftime("%Y-%m-%d %H:%M") if order.paid_at else ""
    base = [order.pk, "", "", paid_at, _items_text(order)]
    point = order.pickup_point
    if point is not None:
        # The parcel goes to the leader's point: the leader is the one who receives it.
        where = f"{point.name} ({point.opening_hours})" if point.opening_hours else point.name
        return [*base, "pickup", point.contact_name, point.contact_phone, point.region, point.address, where]
    address = order.address or {}
    return [
        *base,
        "address",
        address.get("name", ""),
        address.get("phone", ""),
        address.get("region", ""),
        address.get("detail", ""),
        "",
    ]


def shipping_list_rows(*, merchant_id: int) -> Iterator[list]:
    """The rows (``SHIPPING_LIST_COLUMNS``) of the merchant's orders waiting to ship (status
    ``paid``), oldest payment first: the order a packer works through. Read in chunks, so a
    list of 100,000 orders is never held in memory at once."""
    orders = (
        Order.objects.filter(merchant_id=merchant_id, status=Order.Status.PAID)
        .select_related("pickup_point")
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("pk")))
        .only(
            "pk",
            "paid_at",
            "address",
            "pickup_point__name",
            "pickup_point__address",
            "pickup_point__opening_hours",
            "pickup_point__region",
            "pickup_point__contact_name",
            "pickup_point__contact_phone",
        )
        .order_by("paid_at", "pk")
    )
    for order in orders.iterator(chunk_size=CHUNK):
        yield _row(order)

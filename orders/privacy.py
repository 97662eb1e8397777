"""The orders part of a person's data (``accounts/privacy.py``): their orders, the
addresses they shipped to and their after-sales cases. Orders are kept when the account is
erased (tax and consumer law, and the ledger points at them); only the address is blanked."""

from __future__ import annotations

from typing import Any

from .models import AfterSale, Order, Pickup

# Money still moving or goods still owed: the account cannot be erased before they end.
OPEN_ORDER_STATUSES = (
    Order.Status.PENDING_PAYMENT,
    Order.Status.AWAITING_TEAM,
    Order.Status.PAID,
    Order.Status.SHIPPED,
)
ERASE_BATCH = 500


def _orders_export(user) -> list[dict[str, Any]]:
    orders = Order.objects.filter(buyer=user).prefetch_related("items").order_by("-created_at", "-pk")
    return [
        {
            "id": order.pk,
            "status": order.status,
            "store_id": order.store_id,
            "merchant_id": order.merchant_id,
            "created_at": order.created_at,
            "paid_at": order.paid_at,
            "paid_fen": order.paid_fen,
            "refunded_fen": order.refunded_fen,
            "address": order.address,
            "pickup_point_id": order.pickup_point_id,
            "carrier": order.carrier,
            "tracking_no": order.tracking_no,
            "items": [
                {
                    "product_title": item.product_title,
                    "spec": item.spec,
                    "qty": item.qty,
                    "unit_price_fen": item.unit_price_fen,
                    "paid_fen": item.paid_fen,
                }
                for item in order.items.all()
            ],
        }
        for order in orders
    ]


def _addresses_export(user) -> list[dict[str, Any]]:
    """Every distinct address the person gave at checkout, most recent first."""
    seen: list[dict] = []
    for address in (
        Order.objects.filter(buyer=user).order_by("-created_at", "-pk").values_list("address", flat=True)
    ):
        if address and address not in seen:
            seen.append(address)
    return seen


def _after_sales_export(user) -> list[dict[str, Any]]:
    cases = AfterSale.objects.filter(buyer=user).order_by("-created_at", "-pk")
    return [
        {
            "id": case.pk,
            "order_id": case.order_id,
            "kind": case.kind,
            "status": case.status,
            "amount_fen": case.amount_fen,
            "refunded_fen": case.refunded_fen,
            "reason": case.reason,
            "created_at": case.created_at,
        }
        for case in cases
    ]


def _open_duties(user) -> list[str]:
    duties = []
    open_orders = Order.objects.filter(buyer=user, status__in=OPEN_ORDER_STATUSES).count()
    if open_orders:
        duties.append(
            f"{open_orders} order(s) are unpaid or not yet delivered: cancel or receive them first."
        )
    open_cases = AfterSale.objects.filter(buyer=user, status__in=AfterSale.OPEN).count()
    if open_cases:
        duties.append(f"{open_cases} after-sales case(s) are open: wait for them to end or withdraw them.")
    held = Pickup.objects.filter(point__leader=user, status__in=Pickup.UNCOLLECTED).exclude(
        order__status__in=(Order.Status.CANCELLED, Order.Status.REFUNDED)
    )
    parcels = held.count()
    if parcels:
        duties.append(
            f"Your pickup point has {parcels} parcel(s) on their way or not yet collected: "
            "hand them out first."
        )
    return duties


def _erase(user) -> None:
    """Blank every field of every address the person shipped to; the orders stay."""
    orders = Order.objects.filter(buyer=user).only("pk", "address")
    batch = []
    for order in orders.iterator(chunk_size=ERASE_BATCH):
        if isinstance(order.address, dict) and any(order.address.values()):
            order.address = dict.fromkeys(order.address, "")
            batch.append(order)
        if len(batch) >= ERASE_BATCH:
            Order.objects.bulk_update(batch, ["address"])
            batch = []
    if batch:
        Order.objects.bulk_update(batch, ["address"])


def register_privacy() -> None:
    from accounts.privacy import register_privacy_section

    register_privacy_section(name="orders", export=_orders_export, open_duties=_open_duties, erase=_erase)
    register_privacy_section(name="addresses", export=_addresses_export)
    register_privacy_section(name="after_sales", export=_after_sales_export)

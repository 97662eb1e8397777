"""What orders tell the people who must act (docs/design.md "Notifications"): the merchant's
staff when an order is ready to ship or an after-sales case needs them. Merchants get the
delivery address they ship to; leaders are told by groupstore (``venue_order_notify``),
which never passes a member's phone or address.

Each message is sent once (a dedupe key per order or case and event), in the transaction
of the change, so a replayed callback or a retried task sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from merchants.selectors import merchant_staff_user_ids
from orders.models import AfterSale, Order
from shop.money import fen_display
from shop.notifications.services import notification_send


def _to_staff(*, merchant_id: int, kind: str, title: str, data: dict, dedupe: str) -> None:
    for user_id in merchant_staff_user_ids(merchant_id=merchant_id):
        notification_send(
            recipient_id=user_id, kind=kind, title=title, data=data, dedupe_key=f"{dedupe}:{user_id}"
        )


def order_notify_merchant_to_ship(*, order: Order) -> None:
    """An order is paid and ready to ship (a team order: once its team is complete)."""
    items = [{"title": i.product_title, "spec": i.spec, "qty": i.qty} for i in order.items.order_by("pk")]
    data = {"order_id": order.pk, "items": items, "address": order.address}
    if order.pickup_point_id is not None:  # ship to the leader's point, for its contact to receive
        point = order.pickup_point
        data["pickup_point"] = {
            "id": point.pk,
            "name": point.name,
            "region": point.region,
            "address": point.address,
            "contact_name": point.contact_name,
            "contact_phone": point.contact_phone,
        }
    _to_staff(
        merchant_id=order.merchant_id,
        kind="order_to_ship",
        title=f"New order {order.pk} to ship ({fen_display(order.paid_fen)})",
        data=data,
        dedupe=f"order:{order.pk}:to-ship",
    )


def after_sale_notify_merchant(*, case: AfterSale, event: str, deadline: datetime | None = None) -> None:
    """A case was opened (answer it), its return posted (refund it), its deadline is near,
    or the buyer took it to ops (a dispute)."""
    what = {
        AfterSale.Status.REQUESTED: "answer it",
        AfterSale.Status.RETURN_SHIPPED: "refund the returned goods",
    }.get(case.status, "act on it")
    titles = {
        "opened": f"After-sales request on order {case.order_id}: {fen_display(case.amount_fen)}",
        "return_shipped": (
            f"The buyer of order {case.order_id} sent the goods back "
            f"({case.return_carrier} {case.return_tracking_no})"
        ),
        "deadline_near": f"After-sales case {case.pk} on order {case.order_id}: {what} soon",
        "disputed": f"The buyer of order {case.order_id} asked the platform to decide",
    }
    data = {
        "after_sale_id": case.pk,
        "order_id": case.order_id,
        "type": case.kind,
        "amount_fen": case.amount_fen,
    }
    if deadline is not None:
        data["deadline"] = deadline.isoformat()
    _to_staff(
        merchant_id=case.merchant_id,
        kind=f"after_sale_{event}",
        title=titles[event],
        data=data,
        dedupe=f"after-sale:{case.pk}:{event}:{deadline.isoformat() if deadline else ''}",
    )

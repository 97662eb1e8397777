"""What orders tell the people who must act (docs/design.md "Notifications"): the merchant's
staff when an order is ready to ship or an after-sales case needs them. Merchants get the
delivery address they ship to; leaders are told by groupstore (``venue_order_notify``),
which never passes a member's phone or address.

And what the buyer is told of their own order (``order_notify_buyer``): paid, shipped, the
team succeeded or failed, a refund made. These kinds have WeChat subscribe message
templates (``settings.WECHAT_SUBSCRIBE_TEMPLATES``): ``notification_send`` queues the
message, sent after commit (docs/subscribe-messages.md).

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


def order_items_summary(order: Order) -> str:
    """The goods as a short message names them: the first title, "等 N 种" for N item lines."""
    titles = list(order.items.order_by("pk").values_list("product_title", flat=True))  # one query
    if not titles:
        return f"订单 {order.pk}"
    return titles[0] if len(titles) == 1 else f"{titles[0]} 等 {len(titles)} 种"


def order_notify_buyer(
    *, order: Order, kind: str, title: str, body: str = "", data: dict, dedupe: str
) -> None:
    """Tell the buyer about their order (in-app, and by subscribe message where the kind has
    a template), once per ``dedupe``. Only the buyer's own facts go in ``data``."""
    notification_send(
        recipient_id=order.buyer_id,
        kind=kind,
        title=title,
        body=body,
        data={"order_id": order.pk, "items": order_items_summary(order), **data},
        dedupe_key=dedupe,
    )


def order_notify_buyer_paid(*, order: Order) -> None:
    order_notify_buyer(
        order=order,
        kind="order_paid",
        title="订单已支付",
        body=f"订单 {order.pk} 已支付 {fen_display(order.paid_fen)}。",
        data={"amount_fen": order.paid_fen, "amount": fen_display(order.paid_fen).lstrip("¥") + "元"},
        dedupe=f"order:{order.pk}:paid:buyer",
    )


def order_notify_buyer_shipped(*, order: Order) -> None:
    order_notify_buyer(
        order=order,
        kind="order_shipped",
        title="订单已发货",
        body=f"订单 {order.pk} 已由 {order.carrier} 发出，运单号 {order.tracking_no}。",
        data={"carrier": order.carrier, "tracking_no": order.tracking_no},
        dedupe=f"order:{order.pk}:shipped:{order.tracking_no}",  # a corrected number: told again
    )


def order_notify_buyer_team(*, order: Order, team, succeeded: bool) -> None:
    """The buyer's team succeeded (the order goes to the merchant) or failed (the order is
    cancelled, or refunded in full if paid)."""
    if succeeded:
        title, body = "拼团成功", f"{team.size} 人团已成团，商家将尽快发货。"
    elif order.status == Order.Status.AWAITING_TEAM:  # paid: refunded in full next
        title, body = "拼团失败", "未在时限内成团，已付款项将原路退回"
    else:  # unpaid: cancelled
        title, body = "拼团失败", "未在时限内成团，订单已取消"
    order_notify_buyer(
        order=order,
        kind="team_succeeded" if succeeded else "team_failed",
        title=title,
        body=body,
        data={"team_id": team.pk, "team_size": team.size},
        dedupe=f"order:{order.pk}:team-{'succeeded' if succeeded else 'failed'}",
    )


def order_notify_buyer_refund_made(*, order: Order, refund_id: int, amount_fen: int) -> None:
    """A refund reached the buyer (the gateway said SUCCESS)."""
    order_notify_buyer(
        order=order,
        kind="refund_made",
        title="退款已到账",
        body=f"订单 {order.pk} 的 {fen_display(amount_fen)} 已退回原支付账户。",
        data={
            "refund_id": refund_id,
            "amount_fen": amount_fen,
            "amount": fen_display(amount_fen).lstrip("¥") + "元",
        },
        dedupe=f"refund:{refund_id}:made",
    )

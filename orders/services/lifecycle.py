"""Order state changes after checkout: paid, cancelled, shipped, received, completed.

Every change locks first, then decides; repeating a change that already happened is
a quiet no-op; an illegal one raises 409. An event row is written with each change.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groupstore.services import share_reward_consider, store_stats_record_payment, venue_order_notify
from merchants.roles import ORDERS, staff_require_role
from orders import hooks
from orders.errors import IllegalOrderTransition, OrderNotFound
from orders.locks import order_qs_for_update
from orders.models import AfterSale, Order, OrderEvent
from orders.services.notify import (
    order_notify_buyer_paid,
    order_notify_buyer_shipped,
    order_notify_merchant_to_ship,
)
from products.services import sku_release_stock, sku_ship_stock
from shop.ledger.models import Account
from shop.ledger.services import AccountRef
from shop.payments.models import Payment
from shop.payments.services import payment_close, payment_post_receipt
from shop.payments.tasks import payment_upload_shipping_task

from .checkout import checkout_release_holds
from .coupons import coupon_issue_for_share_reward, coupon_mark_used
from .funds import order_post_paid_shared
from .teams import team_record_payment, team_seat_for_order
from .transitions import order_event_record, order_move

# What a shipment's carrier and tracking number may be: the API's ship endpoint and the
# console's forms and bulk upload check the same two rules.
CARRIER_MAX_LENGTH = 40
TRACKING_NO_PATTERN = r"^[A-Za-z0-9-]{4,64}$"


def checkout_payment_succeeded(payment: Payment) -> None:
    """Payment handler for checkouts (registered in ``OrdersConfig.ready``), run inside the
    transaction that marks the payment paid: orders become paid, money enters the ledger
    (the merchant is owed the sale amount), the store's figures grow, and the ``paid``
    hook lets rebates accrue."""
    orders = list(order_qs_for_update().filter(payment=payment))
    if payment.is_shared:
        order_post_paid_shared(payment=payment, orders=orders)
    else:
        credits = []
        for order in orders:
            credits.append(
                (AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, order.merchant_id), order.sale_fen)
            )
            if order.coupon_fen:
                credits.append((AccountRef.platform(Account.Kind.MARKETING_BUDGET), -order.coupon_fen))
        payment_post_receipt(payment=payment, credits=credits, kind="order_paid")
    if any(order.coupon_fen for order in orders):
        coupon_mark_used(payment_id=payment.pk)  # locked → used (a campaign's reserve pays)
    for order in orders:
        order.paid_at = payment.paid_at
        seat = team_seat_for_order(order_id=order.pk)
        to = Order.Status.AWAITING_TEAM if seat is not None else Order.Status.PAID
        order_move(order, to, actor=order.buyer, fields=("paid_at",))
        if seat is not None:  # the team's last payment moves all its orders to paid
            team_record_payment(order=order, now=payment.paid_at)
            order.refresh_from_db(fields=["status"])
        store_stats_record_payment(
            store_id=order.store_id,
            buyer_id=order.buyer_id,
            paid_fen=order.paid_fen,
            discount_fen=order.list_fen - order.paid_fen,
        )
        venue_order_notify(order=order)
        order_notify_buyer_paid(order=order)
        if order.status == Order.Status.PAID:
            order_notify_merchant_to_ship(order=order)
        hooks.fire(event="paid", order=order)


@transaction.atomic
def order_cancel(*, order_id: int, actor=None, note: str = "") -> list[Order]:
    """Cancel an unpaid order, and with it every order of the same checkout (one payment).

    The payment is closed first (lock order: payment, then orders — as the payment
    callback does), the stock released. Cancelling twice is a no-op; a paid order 409s.
    """
    payment_id = Order.objects.filter(pk=order_id).values_list("payment_id", flat=True).first()
    if payment_id is None:
        raise OrderNotFound()
    payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
    orders = list(order_qs_for_update().filter(payment_id=payment_id))
    if all(o.status == Order.Status.CANCELLED for o in orders):
        return orders
    if payment.status == Payment.Status.SUCCEEDED or any(
        o.status != Order.Status.PENDING_PAYMENT for o in orders
    ):
        raise IllegalOrderTransition("Only unpaid orders can be cancelled.", order_id=order_id)
    payment_close(payment_id=payment_id)
    now = timezone.now()
    for order in orders:
        order.cancelled_at = now
        order_move(order, Order.Status.CANCELLED, actor=actor, note=note, fields=("cancelled_at",))
    checkout_release_holds(orders=orders, payment_id=payment_id)  # team seats, flash units, coupon
    items = sorted((item for o in orders for item in o.items.all()), key=lambda i: i.sku_id)
    for item in items:
        sku_release_stock(sku_id=item.sku_id, qty=item.qty)
    return orders


@transaction.atomic
def order_ship(
    *, order_id: int, merchant_id: int, carrier: str, tracking_no: str, actor, now: datetime | None = None
) -> Order:
    """The merchant ships a paid order: the units leave stock. Shipping again is a no-op.
    Owner or operator (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=ORDERS)
    order = order_qs_for_update().filter(pk=order_id, merchant_id=merchant_id).first()
    if order is None:
        raise OrderNotFound()
    if order.status == Order.Status.SHIPPED and order.tracking_no == tracking_no:
        return order
    order.carrier, order.tracking_no, order.shipped_at = carrier, tracking_no, now or timezone.now()
    order_move(
        order,
        Order.Status.SHIPPED,
        actor=actor,
        note=f"{carrier} {tracking_no}",
        fields=("carrier", "tracking_no", "shipped_at"),
    )
    order_notify_buyer_shipped(order=order)
    items = list(order.items.order_by("sku_id"))
    for item in items:
        if item.qty > item.refunded_qty:  # units refunded before shipping went back to stock
            sku_ship_stock(sku_id=item.sku_id, qty=item.qty - item.refunded_qty)
    # WeChat holds a mini-program's goods money until it is told of the shipment.
    transaction.on_commit(
        partial(
            payment_upload_shipping_task.delay,
            order.payment_id,
            carrier,
            tracking_no,
            "、".join(item.product_title for item in items)[:120],
            order.pk,  # a shared payment uploads per sub-order
            # Bound for a leader's pickup point: WeChat's 用户自提 (logistics_type 4), no carrier.
            order.pickup_point_id is not None,
        )
    )
    return order


@transaction.atomic
def order_confirm_receipt(*, order_id: int, actor=None, now: datetime | None = None) -> Order:
    """Receipt (by the buyer, or automatically): the after-sales window opens."""
    order = order_qs_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    if order.status == Order.Status.RECEIVED:
        return order
    now = now or timezone.now()
    order.received_at = now
    order.after_sales_closes_at = now + settings.SHOP_RULES["AFTER_SALES_WINDOW"]
    order_move(order, Order.Status.RECEIVED, actor=actor, fields=("received_at", "after_sales_closes_at"))
    return order


@transaction.atomic
def order_complete(*, order_id: int, now: datetime) -> Order:
    """The after-sales window has closed: the order is final and goes to settlement."""
    order = order_qs_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    if order.status == Order.Status.COMPLETED:
        return order
    if order.after_sales_closes_at is None or order.after_sales_closes_at > now:
        raise IllegalOrderTransition("The after-sales window is still open.", order_id=order_id)
    if order.after_sales.filter(status__in=AfterSale.OPEN).exists():
        raise IllegalOrderTransition("An after-sales case is still open.", order_id=order_id)
    order.completed_at = now
    order_move(order, Order.Status.COMPLETED, fields=("completed_at",))
    reward = share_reward_consider(
        store_id=order.store_id,
        buyer_id=order.buyer_id,
        order_id=order.pk,
        paid_fen=order.paid_fen - order.refunded_fen,
        now=now,
    )
    if reward is not None:  # the owner's coupon, issued with the reward (orders/services/coupons)
        coupon_issue_for_share_reward(reward=reward, now=now)
    hooks.fire(event="completed", order=order)
    return order


@transaction.atomic
def order_mark_invoiced(*, order_id: int, merchant_id: int, invoice_no: str, actor) -> Order:
    """The merchant records the invoice it issued for an order. Owner or operator (merchants/roles.py)."""
    staff_require_role(user=actor, merchant_id=merchant_id, area=ORDERS)
    order = order_qs_for_update().filter(pk=order_id, merchant_id=merchant_id).first()
    if order is None:
        raise OrderNotFound()
    if order.status in (Order.Status.PENDING_PAYMENT, Order.Status.CANCELLED):
        raise IllegalOrderTransition("Only paid orders can be invoiced.")
    order.invoice_no = invoice_no
    order.save(update_fields=["invoice_no", "updated_at"])
    order_event_record(order, kind=OrderEvent.Kind.INVOICED, actor=actor, note=invoice_no)
    return order

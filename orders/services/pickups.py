"""The leader's side of pickup delivery (docs/design.md "Pickup delivery"): a parcel arrives
at the point (the buyer is told), then the buyer collects it by showing the code, which the
leader redeems — that confirms receipt through the order state machine
(``lifecycle.order_confirm_receipt``). A parcel nobody collects is confirmed by the
``orders.pickup_auto_receipt`` sweeper (``sweepers.py``), 7 days after it arrived.

Redeeming locks the leader's point first, so one leader's redemptions queue: the count of
wrong codes in the last hour is exact (at most ``PICKUP_WRONG_CODES_PER_HOUR``), and a code
redeemed twice at once is collected once. A wrong code, another point's code and a
cancelled order's code all answer the same ``404``; the wrong try is kept even so (it is
written in its own transaction before the refusal).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groupstore.models import PickupPoint
from orders.errors import (
    IllegalOrderTransition,
    OrderNotFound,
    PickupAlreadyCollected,
    PickupNotFound,
    PickupNotReady,
    PickupTriesExhausted,
)
from orders.locks import order_qs_for_update
from orders.models import Order, OrderEvent, Pickup, PickupCodeAttempt
from shop.notifications.services import notification_send

from .lifecycle import order_confirm_receipt
from .transitions import order_event_record

WRONG_TRIES_WINDOW = timedelta(hours=1)


@transaction.atomic
def pickup_mark_arrived(*, leader, order_id: int, now: datetime | None = None) -> Pickup:
    """The leader says a shipped parcel is at the point: its code becomes redeemable and the
    buyer is told (once). Again: a no-op. Not a parcel of this leader's point: 404; not
    shipped yet, or no longer bound for the point: 409."""
    now = now or timezone.now()
    pickup = (
        Pickup.objects.select_for_update(no_key=True, of=("self",))
        .select_related("order", "point")
        .filter(order_id=order_id, point__leader=leader)
        .first()
    )
    if pickup is None:
        raise OrderNotFound()
    if pickup.status != Pickup.Status.AWAITING_PARCEL:
        if pickup.status in (Pickup.Status.READY, Pickup.Status.COLLECTED):
            return pickup
        raise PickupNotReady("This order was cancelled or refunded: no parcel is coming.")
    order = pickup.order
    # Received already: confirmed by the backstop sweeper (never marked arrived in time); the
    # parcel is still handed out at the point, so it can still arrive.
    if order.status not in (Order.Status.SHIPPED, Order.Status.RECEIVED, Order.Status.COMPLETED):
        raise PickupNotReady("The merchant has not shipped this parcel yet.", order_id=order.pk)
    pickup.status, pickup.arrived_at = Pickup.Status.READY, now
    pickup.save(update_fields=["status", "arrived_at"])
    order_event_record(order, kind=OrderEvent.Kind.ARRIVED, actor=leader, note=pickup.point.name)
    notification_send(
        recipient_id=order.buyer_id,
        kind="pickup_ready",
        title="包裹已到自提点",
        body=f"订单 {order.pk} 的包裹已到 {pickup.point.name}，请凭取件码取货"
        f"（{pickup.point.opening_hours}）。",
        data={
            "order_id": order.pk,
            "pickup_point_id": pickup.point_id,
            "pickup_point_name": pickup.point.name,
        },
        dedupe_key=f"pickup-ready:{order.pk}",
    )
    return pickup


def pickup_redeem(*, leader, code: str, now: datetime | None = None) -> Order:
    """The leader redeems the code a buyer shows: the parcel is collected and the order's
    receipt confirmed. Refused: no such code among the point's parcels (404, the try counted),
    more than the hour's wrong tries (429), not arrived yet (409), collected already (409)."""
    now = now or timezone.now()
    order = _redeem(leader=leader, code=code, now=now)
    if order is None:
        raise PickupNotFound()
    return order


def _redeem(*, leader, code: str, now: datetime) -> Order | None:
    """The redemption's transaction; None for a wrong code (its try committed with it)."""
    with transaction.atomic():
        point = PickupPoint.objects.select_for_update(no_key=True).filter(leader=leader).first()
        if point is None:
            return None
        limit = settings.SHOP_RULES["PICKUP_WRONG_CODES_PER_HOUR"]
        wrong = PickupCodeAttempt.objects.filter(leader=leader, at__gt=now - WRONG_TRIES_WINDOW).count()
        if wrong >= limit:
            raise PickupTriesExhausted(f"{wrong} wrong pickup codes in the last hour: try again later.")
        pickup = (
            Pickup.objects.select_for_update(no_key=True)
            .filter(point=point, code=code, status__in=Pickup.UNCOLLECTED)
            .first()
        )
        if pickup is None:
            if Pickup.objects.filter(point=point, code=code, status=Pickup.Status.COLLECTED).exists():
                raise PickupAlreadyCollected()
            PickupCodeAttempt.objects.create(leader=leader, at=now)
            return None
        if pickup.status == Pickup.Status.AWAITING_PARCEL:
            raise PickupNotReady(order_id=pickup.order_id)
        order = order_qs_for_update().get(pk=pickup.order_id)
        if order.status == Order.Status.SHIPPED:
            order_confirm_receipt(order_id=order.pk, actor=leader, now=now)
            order.refresh_from_db()
        elif order.status not in (Order.Status.RECEIVED, Order.Status.COMPLETED):
            # Refunded while at the point: the parcel goes back to the merchant, not to the buyer.
            raise IllegalOrderTransition("This order was refunded: hand the parcel back.", order_id=order.pk)
        pickup.status, pickup.collected_at = Pickup.Status.COLLECTED, now
        pickup.save(update_fields=["status", "collected_at"])
        order_event_record(order, kind=OrderEvent.Kind.COLLECTED, actor=leader, note=point.name)
        return order

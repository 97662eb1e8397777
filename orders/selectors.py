from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from groupstore.selectors import leader_venue_store_ids

from .errors import AfterSaleNotFound, OrderNotFound, TeamNotFound
from .models import AfterSale, Order, OrderItem, Pickup, Team, TeamMember


def _with_items(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("payment", "team_member__team", "pickup_point").prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.order_by("pk")),
        Prefetch("after_sales", queryset=AfterSale.objects.prefetch_related("items").order_by("pk")),
    )


def order_list_for_buyer(*, buyer, status: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(buyer=buyer)
    if status:
        orders = orders.filter(status=status)
    return _with_items(orders).order_by("-id")


def order_get_for_buyer(*, buyer, order_id: int) -> Order:
    """One of the buyer's own orders; anyone else's is reported as not found."""
    order = order_list_for_buyer(buyer=buyer).filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def _by_delivery(orders: QuerySet[Order], delivery_type: str | None) -> QuerySet[Order]:
    if delivery_type == "pickup":
        return orders.filter(pickup_point__isnull=False)
    if delivery_type == "address":
        return orders.filter(pickup_point__isnull=True)
    return orders


def order_list_for_merchant(
    *,
    merchant_id: int,
    status: str | None = None,
    pickup_point_id: int | None = None,
    delivery_type: str | None = None,
) -> QuerySet[Order]:
    """The merchant's orders, newest first; by status, by delivery type, or only the parcels
    bound for one pickup point (the shipping list groups parcels by point)."""
    orders = Order.objects.filter(merchant_id=merchant_id)
    if status:
        orders = orders.filter(status=status)
    if pickup_point_id is not None:
        orders = orders.filter(pickup_point_id=pickup_point_id)
    orders = _by_delivery(orders, delivery_type)
    return _with_items(orders).order_by("-id")


def order_list_for_leader(
    *, user, status: str | None = None, delivery_type: str | None = None
) -> QuerySet[Order]:
    """The orders of a certified leader's venues, newest first (anyone else: 403), with what
    the leader may see: nicknames, items, status, delivery, after-sales — the serializer
    (``LeaderOrderOutput``) shows no phone, address or pickup code."""
    orders = Order.objects.filter(store_id__in=leader_venue_store_ids(user=user))
    if status:
        orders = orders.filter(status=status)
    orders = _by_delivery(orders, delivery_type)
    return (
        orders.select_related("buyer", "pickup")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.order_by("pk")),
            Prefetch("after_sales", queryset=AfterSale.objects.order_by("pk")),
        )
        .order_by("-id")
    )


def pickup_get_for_buyer(*, buyer, order_id: int) -> Pickup:
    """The pickup of one of the buyer's own orders (with its code); anyone else's, or an
    order shipped to an address: 404."""
    pickup = Pickup.objects.select_related("point").filter(order_id=order_id, order__buyer=buyer).first()
    if pickup is None:
        raise OrderNotFound("No pickup for this order.")
    return pickup


def order_get_for_merchant(*, merchant_id: int, order_id: int) -> Order:
    order = order_list_for_merchant(merchant_id=merchant_id).filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def after_sale_list_for_merchant(*, merchant_id: int, status: str | None = None) -> QuerySet[AfterSale]:
    cases = AfterSale.objects.filter(merchant_id=merchant_id)
    if status:
        cases = cases.filter(status=status)
    return cases.prefetch_related("items").order_by("-id")


def after_sale_get_for_buyer(*, buyer, case_id: int) -> AfterSale:
    case = AfterSale.objects.prefetch_related("items").filter(pk=case_id, buyer=buyer).first()
    if case is None:
        raise AfterSaleNotFound()
    return case


def after_sale_get_for_merchant(*, merchant_id: int, case_id: int) -> AfterSale:
    case = after_sale_list_for_merchant(merchant_id=merchant_id).filter(pk=case_id).first()
    if case is None:
        raise AfterSaleNotFound()
    return case


def team_get_public(*, team_id: int) -> Team:
    """Any signed-in shopper may see a team (it is shared to invite members); its live
    members come as ``live_members`` (seats not released), leader first."""
    live = TeamMember.objects.exclude(status=TeamMember.Status.RELEASED).select_related("buyer")
    team = (
        Team.objects.filter(pk=team_id)
        .prefetch_related(
            Prefetch("members", queryset=live.order_by("-is_leader", "pk"), to_attr="live_members")
        )
        .first()
    )
    if team is None:
        raise TeamNotFound()
    return team

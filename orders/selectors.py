from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from .errors import AfterSaleNotFound, OrderNotFound, TeamNotFound
from .models import AfterSale, Coupon, Order, OrderItem, Team, TeamMember


def _with_items(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("payment", "team_member__team").prefetch_related(
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


def order_list_for_merchant(*, merchant_id: int, status: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(merchant_id=merchant_id)
    if status:
        orders = orders.filter(status=status)
    return _with_items(orders).order_by("-id")


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


# --- Coupons: the wallet --------------------------------------------------------------------

# What shoppers see (API.md): a usable coupon past its expiry, and one ops withdrew, are
# ``expired``; the other stored statuses are shown as they are.
COUPON_WALLET_STATUSES = ("usable", "locked", "used", "expired")


def coupon_wallet_status(coupon, *, now) -> str:
    if coupon.status == "withdrawn" or (coupon.status == "usable" and coupon.expires_at <= now):
        return "expired"
    return coupon.status


def coupon_list_for_user(*, user, status: str, now):
    """The user's own coupons in one wallet status: usable and locked ones soonest to expire
    first, used and expired ones newest first."""
    coupons = Coupon.objects.filter(user=user)
    if status == "usable":
        return coupons.filter(status=Coupon.Status.USABLE, expires_at__gt=now).order_by("expires_at", "pk")
    if status == "locked":
        return coupons.filter(status=Coupon.Status.LOCKED).order_by("expires_at", "pk")
    if status == "used":
        return coupons.filter(status=Coupon.Status.USED).order_by("-used_at", "-pk")
    return coupons.filter(
        Q(status=Coupon.Status.WITHDRAWN) | Q(status=Coupon.Status.USABLE, expires_at__lte=now)
    ).order_by("-expires_at", "-pk")

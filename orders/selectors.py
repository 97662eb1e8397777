from __future__ import annotations

from datetime import datetime

from django.db.models import Case, Count, Exists, F, Min, OuterRef, Prefetch, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from groupstore.models import Membership, Store, StoreStats
from groupstore.selectors import (
    flash_unlock_threshold_fen,
    leader_venue_store_ids,
    store_flash_unlocked,
    store_get_for_member,
)
from products.models import Product

from .errors import AfterSaleNotFound, OrderNotFound, TeamNotFound
from .models import AfterSale, Coupon, FlashOffer, Order, OrderItem, Pickup, Team, TeamMember


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
    order_id: int | None = None,
    product_id: int | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Order]:
    """The merchant's orders, newest first; by status, by delivery type, or only the parcels
    bound for one pickup point (the shipping list groups parcels by point). The console also
    filters by order number, by a product bought in it, and by when it was placed
    (``created_from`` inclusive, ``created_before`` exclusive)."""
    orders = Order.objects.filter(merchant_id=merchant_id)
    if status:
        orders = orders.filter(status=status)
    if pickup_point_id is not None:
        orders = orders.filter(pickup_point_id=pickup_point_id)
    if order_id is not None:
        orders = orders.filter(pk=order_id)
    if product_id is not None:
        orders = orders.filter(
            Exists(OrderItem.objects.filter(order_id=OuterRef("pk"), sku__product_id=product_id))
        )
    if created_from is not None:
        orders = orders.filter(created_at__gte=created_from)
    if created_before is not None:
        orders = orders.filter(created_at__lt=created_before)
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
    return _as_leader_sees(_by_delivery(orders, delivery_type)).order_by("-id")


def order_get_after_leader_write(*, order_id: int) -> Order:
    """The order as a leader sees it, to answer a write the leader has just committed (marked
    arrived, redeemed a code). The write checked the leader; reading again through
    ``order_list_for_leader`` would answer 403 to a leader decertified in between, for a
    write that stands."""
    return _as_leader_sees(Order.objects.filter(pk=order_id)).get()


def _as_leader_sees(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("buyer", "pickup").prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.order_by("pk")),
        Prefetch("after_sales", queryset=AfterSale.objects.order_by("pk")),
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


# --- Flash offers ---------------------------------------------------------------------


def flash_offer_list_for_merchant(*, merchant_id: int, status: str | None = None) -> QuerySet[FlashOffer]:
    """The merchant's own offers (proposed or created by ops on its SKUs), newest first."""
    offers = FlashOffer.objects.filter(sku__merchant_id=merchant_id)
    if status:
        offers = offers.filter(status=status)
    return offers.select_related("sku").order_by("-id")


def flash_offer_list_for_store(*, store_id: int, user, now: datetime | None = None) -> QuerySet[FlashOffer]:
    """For a member of the store (anyone else: 404): approved offers not yet ended on on-sale
    products, live ones first, then coming ones by start. The price is charged only while the
    store has unlocked flash prices (checkout decides)."""
    store_get_for_member(store_id=store_id, user=user)
    return (
        FlashOffer.objects.filter(
            status=FlashOffer.Status.APPROVED,
            ends_at__gt=now or timezone.now(),
            sku__product__status=Product.Status.ON_SALE,
        )
        .select_related("sku")
        .order_by("starts_at", "pk")
    )


def flash_prices_for_member(
    *, store_id: int, user, sku_ids: list[int], now: datetime | None = None
) -> dict[int, int]:
    """``{sku id: flash price}`` that checkout would charge this caller through this store now:
    the caller is a member, the store is not frozen and has unlocked flash prices, and the SKU
    has an approved offer whose window is open (the latest-starting one, as checkout picks).
    Empty otherwise — the product page then shows no flash price. Two indexed reads."""
    if not sku_ids or not getattr(user, "is_authenticated", False):
        return {}
    row = (
        Store.objects.filter(pk=store_id, is_frozen=False)
        .annotate(
            net=Coalesce(
                Subquery(StoreStats.objects.filter(store=OuterRef("pk")).values("net_paid_fen")[:1]), 0
            ),
            is_member=Exists(Membership.objects.filter(store=OuterRef("pk"), user_id=user.pk)),
        )
        .values_list("net", "is_member")
        .first()
    )
    if row is None or not row[1] or row[0] < flash_unlock_threshold_fen():
        return {}
    now = now or timezone.now()
    live = FlashOffer.objects.filter(
        sku_id__in=sku_ids, status=FlashOffer.Status.APPROVED, starts_at__lte=now, ends_at__gt=now
    ).order_by("starts_at", "pk")
    return dict(live.values_list("sku_id", "flash_price_fen"))  # later starts overwrite earlier ones


def flash_prices_live(*, store_id: int, sku_ids: list[int], now: datetime | None = None) -> dict[int, int]:
    """The live flash offer's price of each SKU for buyers in this store now: ``{sku_id:
    flash_price_fen}``, only while the store has unlocked flash prices (as checkout charges
    it: the latest-starting live approved offer of an on-sale product). SKUs without one are left
    out. Share posters ask this (``groupstore.registry.store_offer_prices``)."""
    if not sku_ids:
        return {}
    stats = StoreStats.objects.filter(store_id=store_id).first()
    if stats is None or not store_flash_unlocked(stats=stats):
        return {}
    now = now or timezone.now()
    live = FlashOffer.objects.filter(
        sku_id__in=sku_ids,
        status=FlashOffer.Status.APPROVED,
        starts_at__lte=now,
        ends_at__gt=now,
        sku__product__status=Product.Status.ON_SALE,
    ).order_by("starts_at", "pk")
    return dict(live.values_list("sku_id", "flash_price_fen"))


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


# --- The merchant console's home page: what needs doing today (cheap, indexed) --------------

# After-sales statuses waiting for the merchant, and the deadline each runs against: past it,
# the sweeper decides for the buyer (orders/services/after_sales.py).
MERCHANT_DUE_DEADLINES = {
    AfterSale.Status.REQUESTED: "respond_by",
    AfterSale.Status.RETURN_SHIPPED: "refund_by",
}


def merchant_orders_to_ship(*, merchant_id: int) -> dict:
    """``{"count", "oldest_paid_at"}`` of the merchant's paid orders not yet shipped: one
    aggregate on the ``(merchant, status, -id)`` index."""
    return Order.objects.filter(merchant_id=merchant_id, status=Order.Status.PAID).aggregate(
        count=Count("id"), oldest_paid_at=Min("paid_at")
    )


def merchant_after_sales_due(*, merchant_id: int, limit: int = 10) -> tuple[int, list[dict]]:
    """How many after-sales cases wait for the merchant, and the ``limit`` most urgent as
    ``{"id", "order_id", "kind", "status", "amount_fen", "deadline"}``, soonest deadline first
    (a request to answer by ``respond_by``; a returned parcel to refund by ``refund_by``)."""
    cases = AfterSale.objects.filter(merchant_id=merchant_id, status__in=list(MERCHANT_DUE_DEADLINES))
    due = list(
        cases.annotate(
            deadline=Case(
                *(When(status=status, then=F(field)) for status, field in MERCHANT_DUE_DEADLINES.items())
            )
        )
        .order_by(F("deadline").asc(nulls_last=True), "pk")
        .values("id", "order_id", "kind", "status", "amount_fen", "deadline")[:limit]
    )
    count = len(due) if len(due) < limit else cases.count()
    return count, due


# The merchant needs a buyer's address to ship the order and to handle its after-sales: from
# payment to receipt. Before payment (or never paid, or waiting for a team) and after it is
# cancelled, refunded or completed, the address is the buyer's business alone.
MERCHANT_ADDRESS_STATUSES = frozenset({Order.Status.PAID, Order.Status.SHIPPED, Order.Status.RECEIVED})


def merchant_sees_address(order: Order) -> bool:
    """Whether the order's merchant is shown the buyer's delivery address (API and console)."""
    return order.status in MERCHANT_ADDRESS_STATUSES

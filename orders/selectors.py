from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from groupstore.models import StoreStats
from groupstore.selectors import store_flash_unlocked
from products.models import Product

from .errors import AfterSaleNotFound, OrderNotFound, TeamNotFound
from .models import AfterSale, FlashOffer, Order, OrderItem, Team, TeamMember


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


def flash_prices_live(*, store_id: int, sku_ids: list[int], now=None) -> dict[int, int]:
    """The live flash offer's price of each SKU for buyers in this store now: ``{sku_id:
    flash_price_fen}``, only while the store has unlocked flash prices (as checkout charges
    it: the latest-starting live offer of an on-sale product). SKUs without one are left
    out. Share posters ask this (``groupstore.registry.store_offer_prices``)."""
    if not sku_ids:
        return {}
    stats = StoreStats.objects.filter(store_id=store_id).first()
    if stats is None or not store_flash_unlocked(stats=stats):
        return {}
    now = now or timezone.now()
    live = FlashOffer.objects.filter(
        sku_id__in=sku_ids,
        starts_at__lte=now,
        ends_at__gt=now,
        sku__product__status=Product.Status.ON_SALE,
    ).order_by("starts_at", "pk")
    return dict(live.values_list("sku_id", "flash_price_fen"))

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db.models import Exists, F, Min, OuterRef, QuerySet, Sum
from django.db.models.functions import Coalesce

from products.models import Product
from shop.db import STAND_IN, CompiledQuery, compiled_query, read_connection, run_compiled

from .errors import NotALeader, NotStoreMember, NotStoreOwner, PickupPointNotFound, StoreNotFound
from .models import Leader, Membership, PickupPoint, ShareReward, Store, StoreStats, VenueSelection

MEMBER_ORDERINGS = {
    "-saved_fen": ("-saved_fen", "-id"),
    "-paid_fen": ("-paid_fen", "-id"),
    "-joined_at": ("-joined_at", "-id"),
}


def flash_unlock_threshold_fen() -> int:
    return settings.SHOP_RULES["FLASH_UNLOCK_THRESHOLD_FEN"]


def store_list_for_user(*, user) -> QuerySet[Membership]:
    """Stores I own or belong to, as memberships (each carries ``role``)."""
    return Membership.objects.filter(user=user).select_related("store").order_by("-joined_at", "-id")


def store_get_for_member(*, store_id: int, user) -> tuple[Store, Membership]:
    """A store the caller belongs to; anyone else's is reported as not found."""
    membership = Membership.objects.select_related("store").filter(store_id=store_id, user=user).first()
    if membership is None:
        raise StoreNotFound()
    return membership.store, membership


def _store_figures_for_owner(*, store_id: int, user, fields: tuple[str, ...]) -> dict:
    """The store's aggregate figures, for its owner only (a member 403, a stranger 404).
    The owner's path is one primary-key query: the stats row joined to its store (cheap
    to plan and to run, whatever the number of orders or members); only a refusal looks
    further, to tell a member from a stranger. ``values()``: no model instances."""
    row = _figures_row(store_id=store_id, fields=fields)
    if row is not None and row["store__owner_id"] == user.pk:
        return row
    if row is not None and Membership.objects.filter(store_id=store_id, user=user).exists():
        raise NotStoreOwner()
    raise StoreNotFound()


@cache
def _figures_statement(fields: tuple[str, ...]) -> CompiledQuery:
    query = StoreStats.objects.filter(store_id=STAND_IN).values_list("store__owner_id", *fields)
    return compiled_query(query)


def _figures_row(*, store_id: int, fields: tuple[str, ...]) -> dict | None:
    """The stats row's ``fields`` and its store's owner: the ORM's query, compiled once and
    prepared (compiling it cost more than answering it: bench/RESULTS.md)."""
    with read_connection(StoreStats).cursor() as cursor:
        run_compiled(cursor, _figures_statement(fields), [store_id])
        row = cursor.fetchone()
    return None if row is None else dict(zip(("store__owner_id", *fields), row, strict=True))


def store_require_buyer_membership(*, store_id: int, user) -> Store:
    """Checkout through a store requires membership (or ownership)."""
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        raise StoreNotFound()
    if not Membership.objects.filter(store=store, user=user).exists():
        raise NotStoreMember()
    return store


def store_stats(*, store_id: int) -> StoreStats:
    return StoreStats.objects.get(store_id=store_id)


def store_flash_unlocked(*, stats: StoreStats) -> bool:
    return stats.net_paid_fen >= flash_unlock_threshold_fen()


@dataclass(frozen=True)
class Dashboard:
    gmv_fen: int
    members_count: int
    orders_count: int
    commission_pending_fen: int
    commission_settled_fen: int
    commission_clawed_back_fen: int
    flash_unlocked: bool


def store_dashboard(*, store: Store) -> Dashboard:
    """The store's figures, read from the maintained aggregate row: one indexed read."""
    stats = store_stats(store_id=store.pk)
    return _dashboard({f.name: getattr(stats, f.name) for f in StoreStats._meta.concrete_fields})


_DASHBOARD_FIELDS = (
    "gmv_fen",
    "members_count",
    "orders_count",
    "commission_pending_fen",
    "commission_settled_fen",
    "commission_clawed_back_fen",
    "net_paid_fen",
)


def store_dashboard_for_owner(*, store_id: int, user) -> Dashboard:
    """The owner dashboard: one query, whatever the number of orders or members."""
    return _dashboard(_store_figures_for_owner(store_id=store_id, user=user, fields=_DASHBOARD_FIELDS))


def _dashboard(figures: dict) -> Dashboard:
    return Dashboard(
        gmv_fen=figures["gmv_fen"],
        members_count=figures["members_count"],
        orders_count=figures["orders_count"],
        commission_pending_fen=figures["commission_pending_fen"],
        commission_settled_fen=figures["commission_settled_fen"],
        commission_clawed_back_fen=figures["commission_clawed_back_fen"],
        flash_unlocked=figures["net_paid_fen"] >= flash_unlock_threshold_fen(),
    )


def store_members_count_for_owner(*, store_id: int, user) -> int:
    """Owner only: the members count from the aggregate row (the members list reports it
    as its ``count``, so paging never counts rows)."""
    return _store_figures_for_owner(store_id=store_id, user=user, fields=("members_count",))["members_count"]


def member_list_for_owner(*, store_id: int, ordering: str = "-saved_fen") -> QuerySet:
    """Members with their figures, best first; each page one range read of the store's
    sort index. Only nickname and figures: never phones or addresses."""
    return (
        Membership.objects.filter(store_id=store_id)
        .order_by(*MEMBER_ORDERINGS.get(ordering, MEMBER_ORDERINGS["-saved_fen"]))
        .values("user_id", "joined_at", "orders_count", "paid_fen", "saved_fen", nickname=F("user__nickname"))
    )


_MEMBER_COLUMNS = ("user_id", "joined_at", "orders_count", "paid_fen", "saved_fen", "nickname")


@cache
def _member_page_statement(ordering: str) -> CompiledQuery:
    query = member_list_for_owner(store_id=STAND_IN, ordering=ordering).values_list(
        "user_id", "joined_at", "orders_count", "paid_fen", "saved_fen", "user__nickname"
    )
    return compiled_query(query, suffix=" LIMIT %s OFFSET %s")


class MemberRows:
    """``member_list_for_owner``'s rows as a paginator slices them (``rows[a:b]``): each page
    one prepared statement of the same SQL (the ORM compiled it once), dicts of the same keys."""

    def __init__(self, *, store_id: int, ordering: str) -> None:
        self.store_id = store_id
        self.ordering = ordering if ordering in MEMBER_ORDERINGS else "-saved_fen"

    def __getitem__(self, page: slice) -> list[dict]:
        start, stop = page.start or 0, page.stop
        with read_connection(Membership).cursor() as cursor:
            run_compiled(
                cursor, _member_page_statement(self.ordering), [self.store_id], extra=[stop - start, start]
            )
            return [dict(zip(_MEMBER_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def member_rows_for_owner(*, store_id: int, ordering: str = "-saved_fen") -> MemberRows:
    """The members page's rows (``member_list_for_owner``'s), for the paginator: owner only
    is the caller's check (``store_members_count_for_owner`` first)."""
    return MemberRows(store_id=store_id, ordering=ordering)


def savings_for_user(*, user) -> dict:
    memberships = list(
        Membership.objects.filter(user=user).select_related("store").order_by("-saved_fen", "-id")
    )
    totals = Membership.objects.filter(user=user).aggregate(
        saved=Coalesce(Sum("saved_fen"), 0), rebate=Coalesce(Sum("rebate_fen"), 0)
    )
    return {
        "saved_fen": totals["saved"],
        "rebate_fen": totals["rebate"],
        "by_store": [
            {
                "store_id": m.store_id,
                "store_name": m.store.name,
                "saved_fen": m.saved_fen,
                "rebate_fen": m.rebate_fen,
                "discount_fen": m.discount_fen,
                "envelope_fen": m.envelope_fen,
                "paid_fen": m.paid_fen,
                "orders_count": m.orders_count,
            }
            for m in memberships
        ],
    }


def user_is_leader_expression() -> Exists:
    """``/me``'s ``is_leader``: whether the user ``OuterRef("pk")`` is a certified leader
    (``user_is_leader`` as an expression of the user's row)."""
    return Exists(Leader.objects.filter(user_id=OuterRef("pk"), status=Leader.Status.CERTIFIED))


def user_is_leader(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return Leader.objects.filter(user=user, status=Leader.Status.CERTIFIED).exists()


def leader_get_for_user(*, user) -> Leader | None:
    return Leader.objects.filter(user=user).first()


def venue_selection_product_ids(*, store_id: int) -> list[int]:
    """The venue's curated products, in the leader's order."""
    return list(
        VenueSelection.objects.filter(store_id=store_id)
        .order_by("position")
        .values_list("product_id", flat=True)
    )


def venue_selection_outside(*, store_id: int, product_ids: list[int]) -> list[int]:
    """Which of ``product_ids`` the venue's leader did not select (checkout refuses them)."""
    selected = set(
        VenueSelection.objects.filter(store_id=store_id, product_id__in=set(product_ids)).values_list(
            "product_id", flat=True
        )
    )
    return sorted({pid for pid in product_ids if pid not in selected})


def venue_selection_products(*, store_id: int) -> list[dict]:
    """The venue's curated products on sale, in the leader's order, as a shopper sees them
    in a list: ``{id, title, cover_image, price_fen}`` (price: the lowest SKU list price)."""
    rows = (
        VenueSelection.objects.filter(store_id=store_id, product__status=Product.Status.ON_SALE)
        .order_by("position")
        .annotate(price_fen=Min("product__skus__price_fen"))
        .values("product_id", "product__title", "product__images", "price_fen")
    )
    return [
        {
            "id": row["product_id"],
            "title": row["product__title"],
            "cover_image": (row["product__images"] or [None])[0],
            "price_fen": row["price_fen"],
        }
        for row in rows
    ]


def leader_venue_store_ids(*, user) -> list[int]:
    """The sale venues of a certified leader (their stores); anyone else: 403."""
    if not user_is_leader(user):
        raise NotALeader("Only a certified leader has a venue's orders.")
    return list(Store.objects.filter(owner=user, is_venue=True).order_by("pk").values_list("pk", flat=True))


def pickup_point_of_leader(*, user) -> PickupPoint:
    """The caller's own pickup point (open or closed); none: 404."""
    point = PickupPoint.objects.filter(leader=user).first()
    if point is None:
        raise PickupPointNotFound()
    return point


def share_rewards_granted(*, owner_id: int | None = None):
    """Rewards whose coupon is still to be issued (for the orders app)."""
    rewards = ShareReward.objects.filter(status=ShareReward.Status.GRANTED)
    rewards = rewards.select_related("store").order_by("pk")  # the notice names the store
    if owner_id is not None:
        rewards = rewards.filter(owner_id=owner_id)
    return rewards

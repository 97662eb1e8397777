from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from .errors import NotStoreMember, NotStoreOwner, StoreNotFound
from .models import Leader, Membership, Store, StoreStats

MEMBER_ORDERINGS = {
    "-saved_fen": ("-saved_fen", "-id"),
    "-paid_fen": ("-paid_fen", "-id"),
    "-joined_at": ("-joined_at", "-id"),
}


def flash_unlock_threshold_fen() -> int:
    return settings.SHOP_RULES.get("FLASH_UNLOCK_THRESHOLD_FEN", 10_000)


def store_list_for_user(*, user) -> QuerySet[Membership]:
    """Stores I own or belong to, as memberships (each carries ``role``)."""
    return Membership.objects.filter(user=user).select_related("store").order_by("-joined_at", "-id")


def membership_get(*, store_id: int, user) -> Membership | None:
    return Membership.objects.filter(store_id=store_id, user=user).first()


def store_get_for_member(*, store_id: int, user) -> tuple[Store, Membership]:
    """A store the caller belongs to; anyone else's is reported as not found."""
    membership = Membership.objects.select_related("store").filter(store_id=store_id, user=user).first()
    if membership is None:
        raise StoreNotFound()
    return membership.store, membership


def store_get_for_owner(*, store_id: int, user) -> Store:
    """Owner only: a member gets 403, a stranger 404."""
    store, membership = store_get_for_member(store_id=store_id, user=user)
    if store.owner_id != user.pk:
        raise NotStoreOwner()
    return store


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
    """The owner's figures, read from the maintained aggregate row: one indexed read."""
    stats = store_stats(store_id=store.pk)
    return Dashboard(
        gmv_fen=stats.gmv_fen,
        members_count=stats.members_count,
        orders_count=stats.orders_count,
        commission_pending_fen=stats.commission_pending_fen,
        commission_settled_fen=stats.commission_settled_fen,
        commission_clawed_back_fen=stats.commission_clawed_back_fen,
        flash_unlocked=store_flash_unlocked(stats=stats),
    )


def member_list_for_owner(*, store: Store, ordering: str = "-saved_fen") -> QuerySet[Membership]:
    """Members with their figures. Only nickname and figures: never phones or addresses."""
    return (
        Membership.objects.filter(store=store)
        .select_related("user")
        .only("user__id", "user__nickname", "joined_at", "orders_count", "paid_fen", "saved_fen", "store_id")
        .order_by(*MEMBER_ORDERINGS.get(ordering, MEMBER_ORDERINGS["-saved_fen"]))
    )


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


def user_is_leader(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return Leader.objects.filter(user=user, status=Leader.Status.CERTIFIED).exists()

"""The per-store and per-member running figures, pushed by orders and rebates inside
their own transactions (docs/design.md "Layout": aggregates are pushed, not pulled).

Each push is one or two ``UPDATE … SET x = x + delta`` on rows keyed by primary key or
a unique index: no reads, no scans of orders, and concurrent pushes add up exactly.
Lock order: these rows are touched before ledger accounts (see rebates' settlement).
"""

from __future__ import annotations

from django.db.models import F

from shop.db import bulk_add

from ..models import Membership, StoreStats


def store_stats_record_payment(*, store_id: int, buyer_id: int, paid_fen: int, discount_fen: int) -> None:
    """An order through the store was paid: GMV, orders and the member's figures grow."""
    StoreStats.objects.filter(store_id=store_id).update(
        gmv_fen=F("gmv_fen") + paid_fen,
        net_paid_fen=F("net_paid_fen") + paid_fen,
        orders_count=F("orders_count") + 1,
    )
    Membership.objects.filter(store_id=store_id, user_id=buyer_id).update(
        paid_fen=F("paid_fen") + paid_fen,
        discount_fen=F("discount_fen") + discount_fen,
        saved_fen=F("saved_fen") + discount_fen,
        orders_count=F("orders_count") + 1,
    )


def store_stats_record_refund(
    *, store_id: int, buyer_id: int, refunded_fen: int, discount_fen: int = 0
) -> None:
    """Money paid through the store went back to the buyer (for the orders app to call in
    the refund's transaction): the store's net paid spend and the member's net paid fall
    by ``refunded_fen``; ``discount_fen`` is the part of the member's recorded discount
    that belonged to the refunded units (a refunded item saved them nothing).

    GMV and order counts stay as placed (GMV is gross). Net paid drives the flash-price
    unlock, so a refund can take a store back below the threshold: from then on its
    checkouts quote list prices again until members' spend climbs back.
    """
    if refunded_fen < 0 or discount_fen < 0:
        raise ValueError("refund figures are positive amounts to take off")
    StoreStats.objects.filter(store_id=store_id).update(net_paid_fen=F("net_paid_fen") - refunded_fen)
    Membership.objects.filter(store_id=store_id, user_id=buyer_id).update(
        paid_fen=F("paid_fen") - refunded_fen,
        discount_fen=F("discount_fen") - discount_fen,
        saved_fen=F("saved_fen") - discount_fen,
    )


def store_stats_record_commission(
    *, store_id: int, pending_fen: int = 0, settled_fen: int = 0, clawed_back_fen: int = 0
) -> None:
    """Owner commission moved: deltas in fen (pending may shrink as it settles)."""
    StoreStats.objects.filter(store_id=store_id).update(
        commission_pending_fen=F("commission_pending_fen") + pending_fen,
        commission_settled_fen=F("commission_settled_fen") + settled_fen,
        commission_clawed_back_fen=F("commission_clawed_back_fen") + clawed_back_fen,
    )


def store_stats_record_commissions(*, settled_fen: dict[int, int]) -> None:
    """Owner commission of many stores settled at once, ``{store_id: fen}`` (settlement's
    batch): pending falls and settled grows by it, as ``store_stats_record_commission``
    for each, in two statements (``bulk_add``: the rows locked in store order, then one
    update)."""
    bulk_add(
        model=StoreStats,
        keys=("store_id",),
        columns={"commission_pending_fen": -1, "commission_settled_fen": 1},
        rows=settled_fen.items(),
    )


def member_stats_record_rebate(
    *, store_id: int, user_id: int, rebate_fen: int = 0, envelope_fen: int = 0
) -> None:
    """A rebate settled (or was clawed back, negative) or an envelope was claimed."""
    Membership.objects.filter(store_id=store_id, user_id=user_id).update(
        rebate_fen=F("rebate_fen") + rebate_fen,
        envelope_fen=F("envelope_fen") + envelope_fen,
        saved_fen=F("saved_fen") + rebate_fen + envelope_fen,
    )


def member_stats_record_rebates(*, rebates_fen: dict[tuple[int, int], int]) -> None:
    """Many settled rebates at once, ``{(store_id, user_id): fen}`` (settlement's batch):
    the same change as ``member_stats_record_rebate`` for each, in two statements
    (``bulk_add``: the rows locked in (store, user) order, then one update)."""
    bulk_add(
        model=Membership,
        keys=("store_id", "user_id"),
        columns={"rebate_fen": 1, "saved_fen": 1},
        rows=((store_id, user_id, fen) for (store_id, user_id), fen in rebates_fen.items()),
    )

"""The per-store and per-member running figures, pushed by orders and rebates inside
their own transactions (docs/design.md "Layout": aggregates are pushed, not pulled).

Each push is one or two ``UPDATE … SET x = x + delta`` on rows keyed by primary key or
a unique index: no reads, no scans of orders, and concurrent pushes add up exactly.
Lock order: these rows are touched before ledger accounts (see rebates' settlement).
"""

from __future__ import annotations

from django.db import connection
from django.db.models import F

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
    for each, in two statements on PostgreSQL — the rows locked in store order, as one by
    one would, then one ``UPDATE … FROM (VALUES …)``."""
    items = sorted((store_id, fen) for store_id, fen in settled_fen.items() if fen)
    if connection.vendor != "postgresql" or len(items) < 2:
        for store_id, fen in items:
            store_stats_record_commission(store_id=store_id, pending_fen=-fen, settled_fen=fen)
        return
    table = connection.ops.quote_name(StoreStats._meta.db_table)
    values = ", ".join(["(%s::bigint, %s::bigint)"] * len(items))
    params = [x for item in items for x in item]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT store_id FROM {table} WHERE store_id = ANY(%s) ORDER BY store_id FOR NO KEY UPDATE",  # noqa: S608
            [[store_id for store_id, _ in items]],
        )
        cursor.execute(
            f"UPDATE {table} AS s SET commission_pending_fen = s.commission_pending_fen - v.fen, "  # noqa: S608
            "commission_settled_fen = s.commission_settled_fen + v.fen "
            f"FROM (VALUES {values}) AS v(store_id, fen) WHERE s.store_id = v.store_id",
            params,
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
    the same change as ``member_stats_record_rebate`` for each, in two statements on
    PostgreSQL — the rows locked in (store, user) order, as one by one would, then one
    ``UPDATE … FROM (VALUES …)``."""
    items = sorted((key, fen) for key, fen in rebates_fen.items() if fen)
    if connection.vendor != "postgresql" or len(items) < 2:
        for (store_id, user_id), fen in items:
            member_stats_record_rebate(store_id=store_id, user_id=user_id, rebate_fen=fen)
        return
    table = connection.ops.quote_name(Membership._meta.db_table)
    values = ", ".join(["(%s::bigint, %s::bigint, %s::bigint)"] * len(items))
    params = [x for (store_id, user_id), fen in items for x in (store_id, user_id, fen)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.id FROM {table} AS m JOIN (VALUES {values}) AS v(store_id, user_id, fen) "  # noqa: S608
            "ON m.store_id = v.store_id AND m.user_id = v.user_id "
            "ORDER BY m.store_id, m.user_id FOR NO KEY UPDATE OF m",
            params,
        )
        cursor.execute(
            f"UPDATE {table} AS m SET rebate_fen = m.rebate_fen + v.fen, saved_fen = m.saved_fen + v.fen "  # noqa: S608
            f"FROM (VALUES {values}) AS v(store_id, user_id, fen) "
            "WHERE m.store_id = v.store_id AND m.user_id = v.user_id",
            params,
        )

"""The orders app's hand-written statements: checkout's one read and the flash sale's counters
(docs/design.md "Where speed-ups live"). Each is a named function with its ORM equivalent in
the docstring; ``tests/test_sql_equivalence.py`` runs every one beside that equivalent on real
rows. All run prepared (``shop.db.execute``): every quote, order and flash buyer runs them,
and parse and plan were most of their server time. Tables and columns are named from the
models' metadata; values are always bound.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection

from groupstore.models import Membership, Store, StoreStats
from products.models import Product, Sku
from products.sql import sku_checkout_columns
from shop.db import column, execute, execute_rowcount, table

from .models import FlashBuyerCount, FlashOffer

OFFER_FIELDS = tuple(FlashOffer._meta.concrete_fields)
CHECKOUT_STORE_HEAD = 6  # checkout_store_rows: the store's columns before the offer's


def _at(now: datetime):
    return connection.ops.adapt_datetimefield_value(now)


@cache
def _checkout_store_sql() -> str:
    offer_cols = [f"o.{column(FlashOffer, f.name)}" for f in OFFER_FIELDS]
    cols = ", ".join(offer_cols + sku_checkout_columns(sku_alias="k", product_alias="p"))
    s, st, m = (table(model) for model in (Store, StoreStats, Membership))
    o, k, p = (table(model) for model in (FlashOffer, Sku, Product))
    sid = column(Store, "id")
    offer_join = (
        f"({o} o JOIN {k} k ON k.{column(Sku, 'id')} = o.{column(FlashOffer, 'sku')} "
        f"JOIN {p} p ON p.{column(Product, 'id')} = k.{column(Sku, 'product')}) "
        f"ON o.{column(FlashOffer, 'starts_at')} <= %s AND o.{column(FlashOffer, 'ends_at')} > %s "
        f"AND o.{column(FlashOffer, 'status')} = %s "
        f"AND p.{column(Product, 'status')} = %s AND o.{column(FlashOffer, 'sku')} IN ({{}})"
    )
    return (
        f"SELECT s.{sid}, s.{column(Store, 'owner')}, s.{column(Store, 'is_frozen')}, "  # noqa: S608
        f"COALESCE(st.{column(StoreStats, 'net_paid_fen')}, 0), "
        f"EXISTS (SELECT 1 FROM {m} m WHERE m.{column(Membership, 'store')} = s.{sid} "
        f"AND m.{column(Membership, 'user')} = %s), s.{column(Store, 'is_venue')}, {cols} "
        f"FROM {s} s LEFT JOIN {st} st ON st.{column(StoreStats, 'store')} = s.{sid} "
        f"LEFT JOIN {offer_join} WHERE s.{sid} = %s "
        f"ORDER BY o.{column(FlashOffer, 'starts_at')}, o.{column(FlashOffer, 'id')}"
    )


def checkout_store_rows(*, store_id: int, buyer_id: int, sku_ids: list[int], now: datetime) -> list[tuple]:
    """Checkout's one read: the store, its stats, whether the buyer is a member, and the
    approved offers of these SKUs whose window is open at ``now`` on an on-sale product, each with its
    SKU and product. One row per live offer (latest start last), or one row with the offer's
    columns empty; none when there is no such store. Each row: ``(store id, owner id,
    is_frozen, net_paid_fen, is_member, is_venue, *offer columns (OFFER_FIELDS), *SKU and
    product columns (products.sql.sku_checkout_columns))`` — ``CHECKOUT_STORE_HEAD`` store
    columns first.

    ORM: ``Store.objects.filter(pk=s).annotate(net=Coalesce("stats__net_paid_fen", 0),
    is_member=Exists(Membership.objects.filter(store=OuterRef("pk"), user_id=b)))`` (with
    ``is_venue``) and
    ``FlashOffer.objects.filter(sku_id__in=ids, starts_at__lte=now, ends_at__gt=now,
    status=APPROVED, sku__product__status=ON_SALE).select_related("sku__product").order_by("starts_at",
    "pk")``: three round trips where this is one."""
    at = _at(now)
    with connection.cursor() as cursor:
        execute(
            cursor,
            _checkout_store_sql().format(", ".join(["%s"] * len(sku_ids))),
            [buyer_id, at, at, FlashOffer.Status.APPROVED, Product.Status.ON_SALE, *sku_ids, store_id],
        )
        return cursor.fetchall()


@cache
def _flash_held_sql() -> str:
    return (
        f"SELECT {column(FlashBuyerCount, 'units')} FROM {table(FlashBuyerCount)} "  # noqa: S608
        f"WHERE {column(FlashBuyerCount, 'offer')} = %s AND {column(FlashBuyerCount, 'buyer')} = %s"
    )


def flash_held_units(*, offer_id: int, buyer_id: int) -> int:
    """How many units of the offer the buyer holds (0 when none).

    ORM: ``FlashBuyerCount.objects.filter(offer_id=o, buyer_id=b)
    .values_list("units", flat=True).first() or 0``."""
    with connection.cursor() as cursor:
        execute(cursor, _flash_held_sql(), [offer_id, buyer_id])
        row = cursor.fetchone()
    return row[0] if row else 0


@cache
def _flash_buyer_add_sql() -> str:
    offer, buyer, units = (column(FlashBuyerCount, n) for n in ("offer", "buyer", "units"))
    return (
        f"INSERT INTO {table(FlashBuyerCount)} AS c ({offer}, {buyer}, {units}) VALUES (%s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({offer}, {buyer}) DO UPDATE SET {units} = c.{units} + EXCLUDED.{units} "
        f"WHERE c.{units} + EXCLUDED.{units} <= %s RETURNING c.{units}"
    )


def flash_buyer_add(*, offer_id: int, buyer_id: int, qty: int, limit: int) -> bool:
    """The buyer's units of the offer grow by ``qty`` unless that passes ``limit``: one upsert
    (the first units insert the row; later ones update it under its row lock, only within
    the limit). Whether it did. PostgreSQL only (``ON CONFLICT … WHERE``).

    ORM (two statements, the embedded demo's path): ``row = get_or_create(offer_id=o,
    buyer_id=b)``, then ``filter(pk=row.pk, units__lte=limit - qty)
    .update(units=F("units") + qty) == 1``."""
    with connection.cursor() as cursor:
        execute(cursor, _flash_buyer_add_sql(), [offer_id, buyer_id, qty, limit])
        return cursor.fetchone() is not None


@cache
def _flash_take_sql() -> str:
    sold, quantity = column(FlashOffer, "sold_count"), column(FlashOffer, "quantity")
    return (
        f"UPDATE {table(FlashOffer)} SET {sold} = {sold} + %s "  # noqa: S608
        f"WHERE {column(FlashOffer, 'id')} = %s AND {sold} <= {quantity} - %s "
        f"AND {column(FlashOffer, 'starts_at')} <= %s AND {column(FlashOffer, 'ends_at')} > %s "
        f"AND {column(FlashOffer, 'status')} = %s"
    )


def flash_take(*, offer_id: int, qty: int, now: datetime) -> bool:
    """Count ``qty`` units against the offer's cap if it is approved, its window is open at
    ``now`` and that many are left; whether it did.

    ORM: ``FlashOffer.objects.filter(pk=o, sold_count__lte=F("quantity") - qty,
    starts_at__lte=now, ends_at__gt=now, status=APPROVED).update(sold_count=F("sold_count") + qty) == 1``."""
    at = _at(now)
    return execute_rowcount(_flash_take_sql(), [qty, offer_id, qty, at, at, FlashOffer.Status.APPROVED]) == 1

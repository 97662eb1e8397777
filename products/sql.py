"""The catalog's hand-written statements (docs/design.md "Where speed-ups live"), each a named
function with its ORM equivalent in the docstring; ``tests/test_sql_equivalence.py`` runs
every one beside that equivalent on real rows. Tables and columns are named from the models'
metadata (``shop.db.table``/``column``); values are always bound.

PostgreSQL only, except ``sku_reserve`` and ``skus_with_products`` (plain SQL, also run by the
embedded SQLite demo); the services and selectors keep the ORM path for other databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from django.db import connection

from shop.db import column, execute, execute_rowcount, read_connection, table

from .models import OnSaleCount, Product, Sku

# What checkout reads of a product: the rest (description, images, search words) stays
# deferred — reading and decoding it on every order was measurable (bench/results/orders.md).
CHECKOUT_PRODUCT_FIELDS = ("id", "merchant_id", "title", "status")

SEARCH_ORDER = {
    None: "ts_rank(search_vector, to_tsquery('simple', %s), 1) DESC, sales_count DESC, id DESC",
    "-sales": "sales_count DESC, id DESC",
    "price_fen": "min_price_fen ASC, id ASC",
    "-price_fen": "min_price_fen DESC, id DESC",
    "-created_at": "created_at DESC, id DESC",
}


@cache
def _reserve_sql() -> str:
    reserved, on_hand = column(Sku, "reserved"), column(Sku, "on_hand")
    return (
        f"UPDATE {table(Sku)} SET {reserved} = {reserved} + %s "  # noqa: S608
        f"WHERE {column(Sku, 'id')} = %s AND {on_hand} >= {reserved} + %s"
    )


def sku_reserve(*, sku_id: int, qty: int) -> bool:
    """Hold ``qty`` units of a SKU if that many are free; whether it did. Prepared: every order
    runs it, and the ORM's compile of it cost more than PostgreSQL's run.

    ORM: ``Sku.objects.filter(pk=sku_id, on_hand__gte=F("reserved") + qty)
    .update(reserved=F("reserved") + qty) == 1``."""
    return execute_rowcount(_reserve_sql(), [qty, sku_id, qty]) == 1


def sku_on_hand_set(*, merchant_id: int, rows: Sequence[tuple[int, int]], now: datetime) -> int:
    """Set absolute ``on_hand`` for ``(sku_id, on_hand)`` rows (sorted by id) of one merchant;
    how many changed (rows already at the value are not rewritten). The rows are locked in id
    order first, as checkouts lock SKUs, then one ``UPDATE … FROM (VALUES …)`` planned as a
    nested loop driven by the list (hash and merge joins off for the statement: on 100,000
    rows in batches of 5,000, nested loop 1.4–1.6 s, merge join 1.9–2.1 s, the default hash
    join 2.0–2.9 s, which reads the whole table every batch).

    ORM: in id order, ``Sku.objects.filter(pk=i, merchant_id=m).exclude(on_hand=n)
    .update(on_hand=n, updated_at=now)``, summed."""
    sku, sku_id, on_hand = table(Sku), column(Sku, "id"), column(Sku, "on_hand")
    merchant = column(Sku, "merchant")
    values = ",".join(["(%s::bigint,%s::bigint)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {sku} WHERE {sku_id} = ANY(%s) AND {merchant} = %s "  # noqa: S608
            f"ORDER BY {sku_id} FOR NO KEY UPDATE",
            [[i for i, _ in rows], merchant_id],
        )
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(
            f"UPDATE {sku} AS s SET {on_hand} = v.on_hand, {column(Sku, 'updated_at')} = %s "  # noqa: S608
            f"FROM (VALUES {values}) AS v(id, on_hand) "
            f"WHERE s.{sku_id} = v.id AND s.{merchant} = %s AND s.{on_hand} <> v.on_hand",
            [now, *(value for row in rows for value in row), merchant_id],
        )
        changed = cursor.rowcount
        cursor.execute("SET LOCAL enable_hashjoin TO DEFAULT")
        cursor.execute("SET LOCAL enable_mergejoin TO DEFAULT")
    return changed


@cache
def checkout_fields() -> tuple[list, list]:
    """The SKU's fields and the product's (``CHECKOUT_PRODUCT_FIELDS``) checkout reads."""
    return list(Sku._meta.concrete_fields), [Product._meta.get_field(n) for n in CHECKOUT_PRODUCT_FIELDS]


def sku_checkout_columns(*, sku_alias: str, product_alias: str) -> list[str]:
    """The columns of ``checkout_fields`` for a hand-written join of SKU and product."""
    sku_fields, product_fields = checkout_fields()
    return [f"{sku_alias}.{column(Sku, f.name)}" for f in sku_fields] + [
        f"{product_alias}.{column(Product, f.name)}" for f in product_fields
    ]


@cache
def _skus_sql() -> str:
    cols = ", ".join(sku_checkout_columns(sku_alias="k", product_alias="p"))
    return (
        f"SELECT {cols} FROM {table(Sku)} k JOIN {table(Product)} p "  # noqa: S608
        f"ON p.{column(Product, 'id')} = k.{column(Sku, 'product')} WHERE k.{column(Sku, 'id')} IN "
    )


def skus_with_products(*, sku_ids: list[int]) -> list[tuple]:
    """The rows of these SKUs with their products' checkout columns, in one prepared
    statement (the ORM's compile of ``select_related`` cost several times its run, on every
    quote and order). Read them with ``products.selectors.sku_from_checkout_row``.

    ORM: ``Sku.objects.filter(pk__in=sku_ids).select_related("product")
    .only(*sku fields, *("product__" + f for f in CHECKOUT_PRODUCT_FIELDS))``."""
    with connection.cursor() as cursor:
        execute(cursor, f"{_skus_sql()}({', '.join(['%s'] * len(sku_ids))})", list(sku_ids))
        return cursor.fetchall()


def product_search_page(
    *, tsquery: str, filters: Sequence[tuple[str, object]], ordering: str | None, offset: int, limit: int
) -> tuple[int, list[tuple]]:
    """One page of on-sale products matching ``tsquery`` and ``filters`` (``(field lookup,
    value)``: ``category_id``, ``min_price_fen__gte``, ``min_price_fen__lte``), with the
    number matching: ``(count, [(id, title, category_id, images, min_price_fen,
    sales_count), …])``. Without ``ordering``, by rank (``ts_rank`` normalization 1), sales,
    id. One statement with ``COUNT(*) OVER ()``; past the last page a second one counts.

    ORM: ``Product.objects.filter(status=ON_SALE, search_vector=SearchQuery(tsquery,
    search_type="raw", config="simple"), **filters).annotate(rank=SearchRank(…,
    normalization=1)).order_by("-rank", "-sales_count", "-pk")`` sliced, and ``.count()``."""
    operators = {"category_id": "=", "min_price_fen__gte": ">=", "min_price_fen__lte": "<="}
    where = [f"{column(Product, 'status')} = %s", "search_vector @@ to_tsquery('simple', %s)"]
    params: list = [Product.Status.ON_SALE, tsquery]
    for lookup, value in filters:
        name = lookup.split("__")[0]
        where.append(f"{column(Product, name)} {operators[lookup]} %s")
        params.append(value)
    condition = " AND ".join(where)
    order = SEARCH_ORDER[ordering]
    order_params = [tsquery] if ordering is None else []
    product = table(Product)
    with read_connection(Product).cursor() as cursor:  # a replica's, where the view may read one
        cursor.execute(
            "SELECT id, title, category_id, images, min_price_fen, sales_count, COUNT(*) OVER () "  # noqa: S608
            f"FROM {product} WHERE {condition} ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, *order_params, limit, offset],
        )
        fetched = cursor.fetchall()
        if fetched:
            return fetched[0][6], [row[:6] for row in fetched]
        if offset == 0:
            return 0, []
        cursor.execute(f"SELECT COUNT(*) FROM {product} WHERE {condition}", params)  # noqa: S608
        return cursor.fetchone()[0], []


def product_list_page(
    *, category_id: int | None, ordering: str, offset: int, limit: int
) -> tuple[int, list[tuple]]:
    """One page of the on-sale products (of one category, or all) in ``ordering`` (a key of
    ``SEARCH_ORDER`` other than None), with the number on sale from the maintained
    ``OnSaleCount`` row, in one statement: ``(count, [(id, title, category_id, images,
    min_price_fen, sales_count), …])``. The page reads its first rows off an index
    (``product_status_*_idx``), so it costs the same at any size of catalog.

    ORM: ``OnSaleCount.objects.get(category_id=category_id or 0).products`` and
    ``Product.objects.filter(status=ON_SALE[, category_id=…]).order_by(*ORDERINGS[ordering])``
    sliced."""
    where = f"{column(Product, 'status')} = %s"
    params: list = [Product.Status.ON_SALE]
    if category_id is not None:
        where += f" AND {column(Product, 'category')} = %s"
        params.append(category_id)
    with read_connection(Product).cursor() as cursor:  # a replica's, where the view may read one
        cursor.execute(
            # the count as a scalar subquery: one row even without its count row (a restore
            # with triggers off), so the page still lists what is on sale
            "SELECT c.n, p.* FROM "  # noqa: S608
            f"(SELECT COALESCE((SELECT {column(OnSaleCount, 'products')} FROM {table(OnSaleCount)} "
            f"WHERE {column(OnSaleCount, 'category_id')} = %s), 0) AS n) AS c "
            "LEFT JOIN LATERAL (SELECT id, title, category_id, images, min_price_fen, sales_count "
            f"FROM {table(Product)} WHERE {where} ORDER BY {SEARCH_ORDER[ordering]} "
            "LIMIT %s OFFSET %s) AS p ON true",
            [category_id or 0, *params, limit, offset],
        )
        fetched = cursor.fetchall()
    if not fetched:
        return 0, []
    return fetched[0][0], [row[1:] for row in fetched if row[1] is not None]


def sku_ids_by_code(*, merchant_id: int, codes: list[str]) -> dict[str, int]:
    """``{code: id}`` of this merchant's SKUs with these codes: one array parameter instead of
    thousands of ``IN`` placeholders (a stock upload asks for thousands at a time).

    ORM: ``dict(Sku.objects.filter(merchant_id=m, code__in=codes).values_list("code", "pk"))``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column(Sku, 'code')}, {column(Sku, 'id')} FROM {table(Sku)} "  # noqa: S608
            f"WHERE {column(Sku, 'merchant')} = %s AND {column(Sku, 'code')} = ANY(%s)",
            [merchant_id, codes],
        )
        return dict(cursor.fetchall())


def sku_codes_of_others(*, merchant_id: int, codes: list[str]) -> set[str]:
    """Which of ``codes`` another merchant uses.

    ORM: ``set(Sku.objects.filter(code__in=codes).exclude(merchant_id=m)
    .values_list("code", flat=True))``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT {column(Sku, 'code')} FROM {table(Sku)} "  # noqa: S608
            f"WHERE {column(Sku, 'code')} = ANY(%s) AND {column(Sku, 'merchant')} <> %s",
            [codes, merchant_id],
        )
        return {code for (code,) in cursor.fetchall()}


# A product's search vector from its title words ``t`` (weight A), category words ``c`` (B) and
# sub-words ``s`` (C), as ``products.search.index_words`` makes them (SQL expressions).
SEARCH_VECTOR_OF = (
    "setweight(to_tsvector('simple', {t}), 'A') || setweight(to_tsvector('simple', {c}), 'B') "
    "|| setweight(to_tsvector('simple', {s}), 'C')"
)


def product_search_vectors_write(*, rows: Sequence[tuple[int, str, str, str]]) -> int:
    """Set ``search_vector`` of ``(id, title words, category words, sub-words)`` rows: title
    words weigh A, the category's B, sub-words inside title words C. One ``UPDATE … FROM
    (VALUES …)``; how many changed.

    ORM, per row: ``Product.objects.filter(pk=i).update(search_vector=SearchVector(Value(t),
    weight="A", config="simple") + SearchVector(Value(c), weight="B", config="simple") +
    SearchVector(Value(s), weight="C", config="simple"))``."""
    values = ",".join(["(%s::bigint,%s::text,%s::text,%s::text)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(Product)} AS p SET {column(Product, 'search_vector')} = "  # noqa: S608
            f"{SEARCH_VECTOR_OF.format(t='v.t', c='v.c', s='v.s')} "
            f"FROM (VALUES {values}) AS v(id, t, c, s) WHERE p.{column(Product, 'id')} = v.id",
            [value for row in rows for value in row],
        )
        return cursor.rowcount

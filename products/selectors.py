from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet

from . import sql
from .errors import ProductNotFound, SkuNotFound
from .models import Category, Product, Sku
from .search import fallback_words, parse_query

ORDERINGS = {
    "-sales": ("-sales_count", "-pk"),
    "price_fen": ("min_price_fen", "pk"),
    "-price_fen": ("-min_price_fen", "-pk"),
    "-created_at": ("-created_at", "-pk"),
}
DEFAULT_ORDERING = "-sales"  # without a query; with one, relevance comes first


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("sort_order", "pk")


def _on_sale(
    *,
    category_id: int | None,
    min_price_fen: int | None,
    max_price_fen: int | None,
) -> QuerySet[Product]:
    products = Product.objects.filter(status=Product.Status.ON_SALE)
    if category_id is not None:
        products = products.filter(category_id=category_id)
    if min_price_fen is not None:
        products = products.filter(min_price_fen__gte=min_price_fen)
    if max_price_fen is not None:
        products = products.filter(min_price_fen__lte=max_price_fen)
    return products


def _matching(products: QuerySet[Product], tsquery: str, ordering: str | None) -> QuerySet[Product]:
    """Products matching a raw tsquery, best match first unless an ordering is asked for.

    Best match: ts_rank over title words (weight A), category words (B) and sub-words
    inside title words (C), normalised by length so that a short title that is mostly
    the query beats a long one that mentions it; sales and id break ties.
    """
    query = SearchQuery(tsquery, search_type="raw", config="simple")
    matched = products.filter(search_vector=query)
    if ordering is not None:
        return matched.order_by(*ORDERINGS[ordering])
    return matched.annotate(rank=SearchRank(F("search_vector"), query, normalization=1)).order_by(
        "-rank", "-sales_count", "-pk"
    )


def _search_fallback(products: QuerySet[Product], q: str) -> QuerySet[Product]:
    """SQLite demo: every word must appear in the title or the category name."""
    words = fallback_words(q)
    if not words:
        return products.none()
    for word in words:
        products = products.filter(Q(title__icontains=word) | Q(category__name__icontains=word))
    return products


def product_list_on_sale(
    *,
    q: str | None = None,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    ordering: str | None = None,
) -> QuerySet[Product]:
    """On-sale products for shoppers, filtered and ordered as docs/api.md lists.

    With ``q``: products whose title or category has every word of it; when none has
    and ``q`` has several words, those with any of them (ranking puts the ones with
    most words first). Without ``ordering``, the best match comes first.
    """
    products = _on_sale(category_id=category_id, min_price_fen=min_price_fen, max_price_fen=max_price_fen)
    if q and q.strip():
        if connection.vendor != "postgresql":
            return _search_fallback(products, q).order_by(*ORDERINGS[ordering or DEFAULT_ORDERING])
        parsed = parse_query(q)
        if parsed is None:
            return products.none()
        matched = _matching(products, parsed.strict, ordering)
        if parsed.relaxed is not None and not matched.exists():
            matched = _matching(products, parsed.relaxed, ordering)
        return matched
    return products.order_by(*ORDERINGS[ordering or DEFAULT_ORDERING])


LIST_FIELDS = ("id", "title", "category_id", "images", "min_price_fen", "sales_count")


def product_page_on_sale(
    *,
    offset: int,
    limit: int,
    q: str | None = None,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    ordering: str | None = None,
) -> tuple[int, list[dict]]:
    """One page of ``product_list_on_sale`` as ``(total count, rows of LIST_FIELDS)``.

    Search is the hottest read of the shop and its budget is a few milliseconds, so on
    PostgreSQL a search page is one hand-written query (the ORM spent about as long
    compiling it as PostgreSQL spent running it): the page's rows carry
    ``COUNT(*) OVER ()``, the number of matches, which ranking computes anyway. The
    relaxed query runs only when the strict one matches nothing. It returns exactly
    what ``product_list_on_sale`` does (the tests hold them to it). Without ``q`` or a
    price filter (the home page, the category tabs) on PostgreSQL: one statement too, the
    maintained ``OnSaleCount`` row beside the first rows of an index
    (``sql.product_list_page``), the same cost at any size of catalog. With a price filter
    and no ``q``, or on SQLite: the ORM, a count and a page query.
    """
    plain = not (q and q.strip()) and min_price_fen is None and max_price_fen is None
    if plain and connection.vendor == "postgresql":
        # The home page and the category tabs: one statement, the count a maintained row.
        count, fetched = sql.product_list_page(
            category_id=category_id, ordering=ordering or DEFAULT_ORDERING, offset=offset, limit=limit
        )
        return count, _list_rows(fetched)
    if not (q and q.strip()) or connection.vendor != "postgresql":
        products = product_list_on_sale(
            q=q,
            category_id=category_id,
            min_price_fen=min_price_fen,
            max_price_fen=max_price_fen,
            ordering=ordering,
        )
        count = products.count()
        rows = list(products.values(*LIST_FIELDS)[offset : offset + limit]) if count > offset else []
        return count, rows
    parsed = parse_query(q)
    if parsed is None:
        return 0, []
    for tsquery in (parsed.strict, parsed.relaxed):
        if tsquery is None:
            break
        count, rows = _search_page_sql(
            tsquery=tsquery,
            category_id=category_id,
            min_price_fen=min_price_fen,
            max_price_fen=max_price_fen,
            ordering=ordering,
            offset=offset,
            limit=limit,
        )
        if count:
            return count, rows
    return 0, []


def _search_page_sql(
    *,
    tsquery: str,
    category_id: int | None,
    min_price_fen: int | None,
    max_price_fen: int | None,
    ordering: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[dict]]:
    filters = [
        (lookup, value)
        for lookup, value in (
            ("category_id", category_id),
            ("min_price_fen__gte", min_price_fen),
            ("min_price_fen__lte", max_price_fen),
        )
        if value is not None
    ]
    count, fetched = sql.product_search_page(
        tsquery=tsquery, filters=filters, ordering=ordering, offset=offset, limit=limit
    )
    return count, _list_rows(fetched)


def _list_rows(fetched: list[tuple]) -> list[dict]:
    """Rows of LIST_FIELDS from a hand-written page's tuples."""
    return [
        {
            "id": pk,
            "title": title,
            "category_id": category,
            "images": images if isinstance(images, list) else json.loads(images),
            "min_price_fen": price,
            "sales_count": sales,
        }
        for pk, title, category, images, price, sales in fetched
    ]


def product_get_on_sale(*, product_id: int) -> Product:
    product = (
        Product.objects.filter(pk=product_id, status=Product.Status.ON_SALE)
        .prefetch_related(Prefetch("skus", queryset=Sku.objects.order_by("pk")))
        .first()
    )
    if product is None:
        raise ProductNotFound()
    return product


def _load(fields: list, values) -> list:
    # What the ORM's converters would do (JSON text into Python); PostgreSQL's other types
    # already come back as Django's (aware UTC datetimes, booleans, integers).
    return [
        f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]


def sku_from_checkout_row(row) -> Sku:
    """A SKU with its product (checkout's fields), from the columns of
    ``products.sql.sku_checkout_columns``."""
    sku_fields, product_fields = sql.checkout_fields()
    n = len(sku_fields)
    sku = Sku.from_db(connection.alias, [f.attname for f in sku_fields], _load(sku_fields, row[:n]))
    sku.product = Product.from_db(
        connection.alias,
        [f.attname for f in product_fields],
        _load(product_fields, row[n : n + len(product_fields)]),
    )
    return sku


def skus_for_checkout(*, sku_ids: list[int]) -> dict[int, Sku]:
    """SKUs with their products (checkout's fields; the rest deferred), keyed by id
    (missing ids simply absent)."""
    skus = [sku_from_checkout_row(row) for row in sql.skus_with_products(sku_ids=sku_ids)]
    return {sku.pk: sku for sku in skus}


# --- The merchant's own catalog (someone else's is reported as not found) -------------


def product_list_for_merchant(
    *, merchant_id: int, status: str | None = None, q: str | None = None
) -> QuerySet[Product]:
    products = (
        Product.objects.filter(merchant_id=merchant_id)
        .select_related("category")
        .prefetch_related(Prefetch("skus", queryset=Sku.objects.order_by("pk")))
        .order_by("-created_at", "-pk")
    )
    if status:
        products = products.filter(status=status)
    if q:
        products = products.filter(Q(title__icontains=q) | Q(skus__code=q)).distinct()
    return products


def product_get_for_merchant(*, merchant_id: int, product_id: int) -> Product:
    product = product_list_for_merchant(merchant_id=merchant_id).filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound()
    return product


def sku_get_for_merchant(*, merchant_id: int, sku_id: int) -> Sku:
    sku = Sku.objects.filter(pk=sku_id, merchant_id=merchant_id).select_related("product__category").first()
    if sku is None:
        raise SkuNotFound()
    return sku


def sku_choices_for_merchant(*, merchant_id: int, limit: int = 500) -> QuerySet[Sku]:
    """The merchant's SKUs of products on sale, newest product first (a form's choices):
    at most ``limit``."""
    return (
        Sku.objects.filter(merchant_id=merchant_id, product__status=Product.Status.ON_SALE)
        .select_related("product")
        .order_by("-product_id", "pk")[:limit]
    )


def product_choices_for_merchant(*, merchant_id: int, limit: int = 500) -> list[tuple[int, str]]:
    """``(id, title)`` of the merchant's products, newest first, for a filter's drop-down."""
    products = Product.objects.filter(merchant_id=merchant_id).order_by("-created_at", "-pk")
    return list(products.values_list("pk", "title")[:limit])


def sku_stock_rows_for_merchant(*, merchant_id: int) -> Iterator[tuple[str, int, str]]:
    """``(code, on_hand, product title)`` of every SKU of the merchant, by code: the stock
    file template, filled in with today's figures (read in chunks)."""
    return (
        Sku.objects.filter(merchant_id=merchant_id)
        .order_by("code")
        .values_list("code", "on_hand", "product__title")
        .iterator(chunk_size=5_000)
    )


def sku_ids_by_code(*, merchant_id: int, codes: Iterable[str]) -> dict[str, int]:
    """``{code: sku id}`` for the codes this merchant has (others simply absent).

    Called with thousands of codes at a time by the stock upload: on PostgreSQL one
    array parameter (``code = ANY(%s)``) instead of thousands of ``IN`` placeholders,
    which cost the ORM and the planner more than the lookup itself.
    """
    codes = list(codes)
    if connection.vendor != "postgresql":
        return dict(Sku.objects.filter(merchant_id=merchant_id, code__in=codes).values_list("code", "pk"))
    return sql.sku_ids_by_code(merchant_id=merchant_id, codes=codes)


def sku_codes_of_others(*, merchant_id: int, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` some other merchant uses (for the ops view of an upload)."""
    codes = list(codes)
    if connection.vendor != "postgresql":
        return set(
            Sku.objects.filter(code__in=codes).exclude(merchant_id=merchant_id).values_list("code", flat=True)
        )
    return sql.sku_codes_of_others(merchant_id=merchant_id, codes=codes)


# A SKU on sale with this many units or fewer available is "running out" on the merchant's
# home page: about a day's sales for a typical listing of the demo's scale.
LOW_STOCK_UNITS = 10


def sku_low_stock_for_merchant(
    *, merchant_id: int, threshold: int = LOW_STOCK_UNITS, limit: int = 10
) -> list[dict]:
    """The merchant's SKUs on sale with ``threshold`` or fewer units available (on hand −
    reserved), fewest first: ``{"id", "code", "product_id", "product_title", "available"}``."""
    return list(
        Sku.objects.filter(merchant_id=merchant_id, product__status=Product.Status.ON_SALE)
        .annotate(available=F("on_hand") - F("reserved"))
        .filter(available__lte=threshold)
        .order_by("available", "pk")
        .values("id", "code", "product_id", "available", product_title=F("product__title"))[:limit]
    )

"""Loading a large catalog fast (``bench/catalog_search.py --seed``, up to 1,000,000 products).

The ORM path (``bulk_create`` of products and SKUs, then ``product_refresh_search`` updating
every row once more) takes most of an hour at 1,000,000 products: each row is written twice,
with every index and the on-sale-count trigger maintained row by row. Here:

1. the rows, with their search words (``products.search.index_words``: the real jieba
   segmentation, remembered per distinct title), are streamed with ``COPY`` into a temporary
   table;
2. in one transaction: the secondary indexes of the product and SKU tables are dropped, the
   on-sale-count trigger is disabled, products are inserted from the temporary table with their
   search vector built by the real expression (``products.sql.SEARCH_VECTOR_OF``), one SKU each,
   ``OnSaleCount`` is recomputed exactly (as migration 0006 does), the trigger is enabled
   again and the indexes are rebuilt from their saved definitions.

Nothing else can see the tables half-loaded (a bench database, one transaction).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable

COPY_CHUNK = 100_000  # rows per COPY


def _copy_text(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _secondary_indexes(cursor, tables: Iterable[str]) -> list[tuple[str, str]]:
    """``(name, definition)`` of the indexes of ``tables`` that back no constraint."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [list(tables)],
    )
    return cursor.fetchall()


def load_products(rows: Iterable[tuple[int, int, str, int, int]], *, category_words: dict[int, str]) -> dict:
    """Insert on-sale products, one SKU each, from ``(merchant id, category id, title, price fen,
    sales)`` rows; returns timings."""
    from django.db import connection, transaction

    from products.models import OnSaleCount, Product, Sku
    from products.search import index_words
    from products.sql import SEARCH_VECTOR_OF
    from shop.db import table

    product, sku, counts = table(Product), table(Sku), table(OnSaleCount)
    words_of: dict[str, tuple[str, str]] = {}
    timings: dict[str, float] = {}
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_catalog_stage (n bigint, merchant_id bigint, category_id bigint, "
            "title text, price bigint, sales bigint, t text, s text) ON COMMIT DROP"
        )
        raw = cursor.cursor  # psycopg2's own cursor, for COPY
        buffer = io.StringIO()
        for n, (merchant_id, category_id, title, price, sales) in enumerate(rows, start=1):
            words = words_of.get(title)
            if words is None:
                words = words_of[title] = index_words(title)
            buffer.write(
                f"{n - 1}\t{merchant_id}\t{category_id}\t{_copy_text(title)}\t{price}\t{sales}\t"
                f"{_copy_text(words[0])}\t{_copy_text(words[1])}\n"
            )
            if n % COPY_CHUNK == 0:
                buffer.seek(0)
                raw.copy_expert("COPY bench_catalog_stage FROM STDIN", buffer)
                buffer = io.StringIO()
        buffer.seek(0)
        raw.copy_expert("COPY bench_catalog_stage FROM STDIN", buffer)
        timings["segment_and_copy_seconds"] = round(time.monotonic() - started, 1)
        timings["distinct_titles"] = len(words_of)

        started = time.monotonic()
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_catalog_words (category_id bigint, c text) ON COMMIT DROP"
        )
        for category_id, words in category_words.items():
            cursor.execute("INSERT INTO bench_catalog_words VALUES (%s, %s)", [category_id, words])
        indexes = _secondary_indexes(cursor, [product, sku])
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute(f"ALTER TABLE {product} DISABLE TRIGGER products_onsale_count")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {product}")  # noqa: S608
        before = cursor.fetchone()[0]
        vector = SEARCH_VECTOR_OF.format(t="g.t", c="w.c", s="g.s")
        cursor.execute(
            f"INSERT INTO {product} (created_at, updated_at, merchant_id, category_id, title, "  # noqa: S608
            "description, images, status, status_reason, sales_count, min_price_fen, search_vector) "
            f"SELECT now(), now(), g.merchant_id, g.category_id, g.title, '', '[]', 'on_sale', '', g.sales, "
            f"g.price, {vector} FROM bench_catalog_stage g JOIN bench_catalog_words w USING (category_id) "
            "ORDER BY g.n"
        )
        cursor.execute(
            f"INSERT INTO {sku} (created_at, updated_at, product_id, merchant_id, code, spec, price_fen, "  # noqa: S608
            "on_hand, reserved, commission_bps, sales_count) "
            f"SELECT now(), now(), id, merchant_id, 'B' || id, '{{}}', min_price_fen, 100, 0, 1000, 0 "
            f"FROM {product} WHERE id > %s",
            [before],
        )
        cursor.execute(f"DELETE FROM {counts}")  # noqa: S608
        cursor.execute(
            f"INSERT INTO {counts} (category_id, products) "  # noqa: S608
            f"SELECT 0, count(*) FROM {product} WHERE status = 'on_sale' UNION ALL "
            f"SELECT category_id, count(*) FROM {product} WHERE status = 'on_sale' GROUP BY category_id"
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign keys' checks, before the ALTER
        cursor.execute(f"ALTER TABLE {product} ENABLE TRIGGER products_onsale_count")
        timings["insert_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        timings["index_seconds"] = round(time.monotonic() - started, 1)
    return timings

"""The maintained count of on-sale products (OnSaleCount, kept by a PostgreSQL trigger) that the
plain listing shows instead of counting the catalog on every request."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.db.models import Count

from products.models import OnSaleCount, Product
from products.selectors import product_page_on_sale
from shop.testing.concurrency import run_concurrently

from .factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

ON, OFF = Product.Status.ON_SALE, Product.Status.OFF_SALE


def maintained() -> dict[int, int]:
    return {c: n for c, n in OnSaleCount.objects.values_list("category_id", "products") if n}


def counted() -> dict[int, int]:
    on_sale = Product.objects.filter(status=ON)
    by_category = dict(
        on_sale.values_list("category_id").annotate(n=Count("pk")).values_list("category_id", "n")
    )
    return {**({0: on_sale.count()} if on_sale.exists() else {}), **by_category}


def test_every_kind_of_change_keeps_the_count_exact():
    food, toys = CategoryFactory(), CategoryFactory()
    a, b, c = ProductFactory(category=food), ProductFactory(category=food), ProductFactory(category=toys)
    ProductFactory(category=toys, status=OFF)
    assert maintained() == counted() == {0: 3, food.pk: 2, toys.pk: 1}

    a.status = OFF
    a.save()  # save(): every column written, status changed
    Product.objects.filter(pk=b.pk).update(category=toys)  # moved, still on sale
    Product.objects.filter(pk=c.pk).update(title="新名字")  # neither status nor category
    assert maintained() == counted() == {0: 2, toys.pk: 2}

    Product.objects.filter(category=toys).update(status=OFF)  # a suspension in bulk
    Product.objects.filter(pk=a.pk).update(status=ON, category=toys)
    with connection.cursor() as cursor:  # not even the ORM
        cursor.execute("DELETE FROM products_product WHERE id = %s", [a.pk])
    assert maintained() == counted() == {}


def test_the_plain_listing_reads_the_count_and_agrees_with_counting():
    food, toys = CategoryFactory(), CategoryFactory()
    ProductFactory.create_batch(3, category=food)
    ProductFactory(category=toys)

    for category_id, expected in ((None, 4), (food.pk, 3), (toys.pk, 1)):
        count, rows = product_page_on_sale(offset=0, limit=2, category_id=category_id)
        assert count == expected
        assert len(rows) == min(2, expected)
    # A price filter cannot use the maintained count: it still counts, and still right.
    assert product_page_on_sale(offset=0, limit=2, max_price_fen=1_000)[0] == 0


def test_the_plain_listing_does_not_count_the_catalog(django_assert_num_queries):
    ProductFactory.create_batch(3)
    with django_assert_num_queries(1) as queries:  # the count's row and the page, one statement
        count, rows = product_page_on_sale(offset=0, limit=20)
    assert (count, len(rows)) == (3, 3)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "COUNT(" not in sql.upper()


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"ordering": "-sales"},
        {"ordering": "price_fen"},
        {"ordering": "-price_fen"},
        {"ordering": "-created_at"},
        {"category": True},
        {"category": True, "ordering": "price_fen"},
        {"category": True, "ordering": "-price_fen"},
    ],
)
def test_every_plain_listing_reads_its_first_page_off_an_index(query, django_assert_num_queries):
    """No sort of the matching products, whatever their number: with sorting priced out, the
    plan still has none, so an index gives the page's order (an index missing for one of the
    mini-program's orderings would leave a Sort over every product on sale, growing with the
    catalog); a category's page starts at that category in its index."""
    product = ProductFactory()
    by_category = query.pop("category", False)
    if by_category:
        query["category_id"] = product.category_id
    with django_assert_num_queries(1) as queries:
        product_page_on_sale(offset=0, limit=20, **query)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Sort" not in plan, plan
    assert "Limit" in plan, plan
    assert "Index Scan" in plan, plan
    if by_category:  # the category is in the index, not a filter over every product on sale
        assert re.search(r"on products_product .*\n\s+Index Cond: .*category_id", plan), plan


@pytest.mark.django_db(transaction=True)
def test_products_put_on_and_off_sale_at_once_leave_the_count_exact():
    food, toys = CategoryFactory(), CategoryFactory()
    products = [ProductFactory(category=food if i % 2 else toys, status=OFF) for i in range(8)]

    def flip(i: int) -> None:
        for _ in range(5):
            Product.objects.filter(pk=products[i].pk).update(status=ON)
            Product.objects.filter(pk=products[i].pk).update(
                status=OFF if i % 3 == 0 else ON, category=toys if i % 2 else food
            )

    results = run_concurrently(flip, times=8)

    assert all(r is None for r in results), results
    assert maintained() == counted()

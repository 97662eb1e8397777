"""The catalog page cache serves repeated pages without a query and never a stale one."""

import pytest

from products.models import Product
from products.services import product_change_status, product_refresh_search, product_update
from products.tests.factories import ProductFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_on(settings):
    settings.CATALOG_PAGE_CACHE_SECONDS = 60


@pytest.fixture
def tissue():
    product = ProductFactory(title="维达抽纸 3层100抽 纸巾", status=Product.Status.ON_SALE)
    SkuFactory(product=product)
    product_refresh_search(product_ids=[product.pk])
    return product


def titles(client, **params):
    return [r["title"] for r in client.get("/api/v1/products", params).json()["results"]]


def test_a_repeated_page_costs_no_query(tissue, api_client, django_assert_num_queries):
    first = titles(api_client, q="纸巾")

    with django_assert_num_queries(0):
        second = titles(api_client, q="纸巾")

    assert first == second == ["维达抽纸 3层100抽 纸巾"]


def test_status_title_and_new_products_show_at_once(tissue, api_client):
    assert titles(api_client, q="纸巾") == ["维达抽纸 3层100抽 纸巾"]

    product_change_status(product_id=tissue.pk, to_status=Product.Status.OFF_SALE)
    assert titles(api_client, q="纸巾") == []

    product_change_status(product_id=tissue.pk, to_status=Product.Status.ON_SALE)
    product_update(product_id=tissue.pk, title="清风 原木 纸巾 3层")
    assert titles(api_client, q="纸巾") == ["清风 原木 纸巾 3层"]

    other = ProductFactory(title="心相印 纸巾 家庭装", status=Product.Status.ON_SALE, sales_count=10)
    product_refresh_search(product_ids=[other.pk])
    assert set(titles(api_client, q="纸巾")) == {"清风 原木 纸巾 3层", "心相印 纸巾 家庭装"}


def test_a_plain_save_invalidates_too(tissue, api_client):
    assert titles(api_client) == ["维达抽纸 3层100抽 纸巾"]

    tissue.status = Product.Status.BLOCKED
    tissue.save()

    assert titles(api_client) == []

"""Chinese search over real product titles (PostgreSQL full-text on jieba words)."""

import pytest

from accounts.tests.factories import UserFactory
from products.models import Product
from products.search import index_words, parse_query
from products.selectors import product_list_on_sale
from products.services import product_refresh_search, product_update
from products.tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    """A small shop of real titles; every product's search vector built by the service."""
    daily = CategoryFactory(name="日用百货")
    digital = CategoryFactory(name="数码电子")
    food = CategoryFactory(name="食品生鲜")
    rows = {
        "tissue": (daily, "维达抽纸 3层100抽 纸巾", 4_990, 900),
        "tissue_box": (daily, "北欧风 客厅 纸巾盒 收纳", 2_990, 50),
        "wet_wipes": (daily, "心相印 湿巾 80抽 婴儿手口可用", 1_290, 300),
        "case": (digital, "iPhone 15 手机壳 防摔 透明", 3_900, 700),
        "stand": (digital, "桌面 手机支架 懒人 可折叠", 1_990, 800),
        "power": (digital, "小米 20000mAh 移动电源 快充", 12_900, 400),
        "orange": (food, "赣南脐橙 5斤装 新鲜当季水果", 2_990, 600),
        "detergent": (daily, "蓝月亮 深层洁净洗衣液 3kg", 5_990, 200),
        "powder": (daily, "立白 洗衣粉 5kg 家庭装", 3_490, 100),
        "hidden": (daily, "维达 纸巾 下架款", 990, 10_000),
    }
    products = {
        key: ProductFactory(category=cat, title=title, min_price_fen=price, sales_count=sales)
        for key, (cat, title, price, sales) in rows.items()
    }
    Product.objects.filter(pk=products["hidden"].pk).update(status=Product.Status.OFF_SALE)
    product_refresh_search()
    return products, {"daily": daily, "digital": digital, "food": food}


def titles(queryset):
    return [p.title for p in queryset]


def test_tissue_query_finds_the_tissue_product(catalog):
    products, _ = catalog

    found = titles(product_list_on_sale(q="纸巾"))

    assert found[0] == "维达抽纸 3层100抽 纸巾"
    assert set(found) == {"维达抽纸 3层100抽 纸巾", "北欧风 客厅 纸巾盒 收纳"}
    assert "维达 纸巾 下架款" not in found  # off sale


def test_phone_case_query_finds_the_case_and_not_the_phone_stand(catalog):
    found = titles(product_list_on_sale(q="手机壳"))

    assert found == ["iPhone 15 手机壳 防摔 透明"]


def test_a_word_finds_longer_words_that_contain_it(catalog):
    # 手机 is a sub-word of 手机壳 and 手机支架 in the index (cut_for_search)
    found = set(titles(product_list_on_sale(q="手机")))

    assert found == {"iPhone 15 手机壳 防摔 透明", "桌面 手机支架 懒人 可折叠"}


def test_mixed_chinese_english_digits_query(catalog):
    assert titles(product_list_on_sale(q="iphone15 手机壳")) == ["iPhone 15 手机壳 防摔 透明"]
    assert titles(product_list_on_sale(q="IPHONE 15")) == ["iPhone 15 手机壳 防摔 透明"]
    # no title has both words: the relaxed query finds what has either
    assert titles(product_list_on_sale(q="20000mah 充电")) == ["小米 20000mAh 移动电源 快充"]
    assert titles(product_list_on_sale(q="小米 20000mAh")) == ["小米 20000mAh 移动电源 快充"]
    assert titles(product_list_on_sale(q="洗衣液 3kg")) == ["蓝月亮 深层洁净洗衣液 3kg"]


def test_a_word_is_not_found_by_a_part_of_it_alone(catalog):
    # 洗衣液 must not match 洗衣粉 just because both start with 洗衣
    assert titles(product_list_on_sale(q="洗衣液")) == ["蓝月亮 深层洁净洗衣液 3kg"]


def test_query_written_apart_matches_title_written_together(catalog):
    assert titles(product_list_on_sale(q="移动 电源")) == ["小米 20000mAh 移动电源 快充"]
    assert titles(product_list_on_sale(q="赣南 脐橙")) == ["赣南脐橙 5斤装 新鲜当季水果"]


def test_category_name_is_searchable_but_ranks_below_title_matches(catalog):
    products, cats = catalog
    # A tissue product whose title does not say 纸巾 but whose category does
    tissue_cat = CategoryFactory(name="纸巾")
    plain = ProductFactory(category=tissue_cat, title="清风 原木 卷筒 10卷", sales_count=5_000)
    product_refresh_search(product_ids=[plain.pk])

    found = titles(product_list_on_sale(q="纸巾"))

    assert "清风 原木 卷筒 10卷" in found
    assert found.index("维达抽纸 3层100抽 纸巾") < found.index("清风 原木 卷筒 10卷")


def test_when_no_product_has_every_word_the_one_with_most_words_comes_first(catalog):
    # nothing is both 好看 and a phone case; the relaxed query ranks by words matched
    products, _ = catalog
    found = titles(product_list_on_sale(q="好看的 手机壳 防摔"))

    assert found[0] == "iPhone 15 手机壳 防摔 透明"


def test_stop_words_are_ignored(catalog):
    assert titles(product_list_on_sale(q="的 手机壳")) == ["iPhone 15 手机壳 防摔 透明"]


def test_query_of_punctuation_only_finds_nothing(catalog):
    assert list(product_list_on_sale(q="！？ ***")) == []
    assert parse_query("'\\&|!") is None


def test_filters_and_orderings_apply_to_search_results(catalog):
    products, cats = catalog

    daily = titles(product_list_on_sale(q="纸巾", category_id=cats["daily"].pk, max_price_fen=3_000))
    by_price = titles(product_list_on_sale(q="手机", ordering="price_fen"))
    by_sales = titles(product_list_on_sale(q="手机", ordering="-sales"))

    assert daily == ["北欧风 客厅 纸巾盒 收纳"]
    assert by_price == ["桌面 手机支架 懒人 可折叠", "iPhone 15 手机壳 防摔 透明"]
    assert by_sales == ["桌面 手机支架 懒人 可折叠", "iPhone 15 手机壳 防摔 透明"]


def test_renaming_a_title_reindexes_it(catalog):
    products, _ = catalog

    product_update(product_id=products["stand"].pk, title="桌面 平板支架 可折叠")

    assert titles(product_list_on_sale(q="手机")) == ["iPhone 15 手机壳 防摔 透明"]
    assert titles(product_list_on_sale(q="平板")) == ["桌面 平板支架 可折叠"]


def test_search_through_the_api(catalog, api_client):
    response = api_client.get("/api/v1/products", {"q": "纸巾"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["results"][0]["title"] == "维达抽纸 3层100抽 纸巾"


def test_api_orders_by_price_when_asked(catalog, api_client):
    response = api_client.get("/api/v1/products", {"q": "纸巾", "ordering": "-price_fen"})

    assert [r["min_price_fen"] for r in response.json()["results"]] == [4_990, 2_990]


def test_api_rejects_an_unknown_ordering(api_client):
    response = api_client.get("/api/v1/products", {"ordering": "random"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_index_words_keep_whole_words_apart_from_their_parts():
    assert index_words("iPhone15 20000mAh 手机壳") == (
        "iphone15 20000mah 手机壳",
        "iphone 15 20000 mah 手机 机壳",
    )


def test_a_search_page_is_one_query_and_pages_link_to_each_other(
    catalog, api_client, make_client, django_assert_num_queries
):
    shopper = make_client(UserFactory())  # the mini-program sends its token everywhere

    with django_assert_num_queries(1):
        first = shopper.get("/api/v1/products", {"q": "手机", "page_size": 1}).json()
    second = api_client.get(first["next"]).json()
    past_the_end = api_client.get("/api/v1/products", {"q": "手机", "page_size": 1, "page": 3})

    assert (first["count"], first["previous"], len(first["results"])) == (2, None, 1)
    assert set(first["results"][0]) == {
        "id",
        "title",
        "category_id",
        "images",
        "min_price_fen",
        "sales_count",
    }
    assert second["next"] is None
    assert "page=" not in second["previous"]
    assert {first["results"][0]["title"], second["results"][0]["title"]} == {
        "iPhone 15 手机壳 防摔 透明",
        "桌面 手机支架 懒人 可折叠",
    }
    assert past_the_end.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"q": "纸巾"},
        {"q": "手机"},
        {"q": "好看的 手机壳 防摔"},
        {"q": "手机", "ordering": "-price_fen"},
        {"q": "纸巾", "max_price_fen": 3_000},
        {"q": "洗衣", "ordering": "-created_at"},
    ],
)
def test_the_api_page_query_returns_what_the_selector_does(catalog, api_client, params):
    _, cats = catalog
    expected = titles(product_list_on_sale(**params))

    body = api_client.get("/api/v1/products", params).json()

    assert [r["title"] for r in body["results"]] == expected
    assert body["count"] == len(expected)


def test_the_gunicorn_master_loads_the_dictionary_before_forking_workers(monkeypatch):
    import runpy

    from django.conf import settings

    from products import search

    monkeypatch.setattr(search, "_tokenizer", None)
    conf = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    conf["when_ready"](None)
    assert search._tokenizer is not None


def test_a_repeated_query_is_segmented_once():
    parse_query.cache_clear()
    first = parse_query("维达 抽纸")
    assert parse_query("维达 抽纸") is first
    assert parse_query.cache_info().hits == 1

"""The merchant console's catalog through the API: create, change, publish (the deposit
rule), and another merchant's products and SKUs answering 404 with nothing changed."""

import pytest

from merchants.models import Merchant
from merchants.services import deposit_deduct
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.models import Product, Sku
from products.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

NEW_PRODUCT = {
    "title": "维达抽纸 3层100抽 纸巾",
    "description": "超韧3层",
    "images": ["https://img.example.com/vd.jpg"],
    "skus": [
        {
            "code": "VD-24",
            "spec": {"规格": "24包"},
            "price_fen": 4_990,
            "stock": 500,
            "commission_bps": 1_000,
            "team_price_fen": 3_990,
            "team_size": 3,
        }
    ],
}


@pytest.fixture
def general():
    return CategoryFactory(
        name="日用百货", deposit_fen=200_000, commission_min_bps=100, commission_max_bps=3_000
    )


@pytest.fixture
def me(make_client, general):
    staff = MerchantStaffFactory()
    staff.merchant.categories.set([general])
    return staff, make_client(staff.user)


def create(client, category, **changes):
    response = client.post(
        "/api/v1/merchant/products", {**NEW_PRODUCT, "category_id": category.pk, **changes}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_create_returns_a_draft_with_merchant_side_sku_fields(me, general):
    _, client = me

    body = create(client, general)

    assert body["status"] == "draft"
    assert body["category_id"] == general.pk
    assert body["min_price_fen"] == 4_990
    (sku,) = body["skus"]
    assert {k: sku[k] for k in ("code", "commission_bps", "on_hand", "reserved", "stock", "team_size")} == {
        "code": "VD-24",
        "commission_bps": 1_000,
        "on_hand": 500,
        "reserved": 0,
        "stock": 500,
        "team_size": 3,
    }
    assert client.get("/api/v1/merchant/products").json()["count"] == 1


def test_publish_is_refused_while_the_deposit_does_not_cover_the_category(me, general):
    staff, client = me
    product = create(client, general)
    pay_deposit(staff.merchant, 150_000, payer=staff.user)

    refused = client.patch(f"/api/v1/merchant/products/{product['id']}", {"status": "on_sale"}, format="json")

    error = assert_error(refused, 409, "deposit_short")
    assert "¥500.00" in error["message"]  # what is missing
    assert Product.objects.get(pk=product["id"]).status == "draft"
    assert api_public_count(client) == 0

    pay_deposit(staff.merchant, 50_000, payer=staff.user)
    published = client.patch(
        f"/api/v1/merchant/products/{product['id']}", {"status": "on_sale"}, format="json"
    )

    assert published.status_code == 200
    assert published.json()["status"] == "on_sale"
    assert api_public_count(client) == 1


def api_public_count(client) -> int:
    return client.get("/api/v1/products").json()["count"]


def test_a_refused_publish_leaves_the_content_unchanged(me, general):
    _, client = me
    product = create(client, general)

    refused = client.patch(
        f"/api/v1/merchant/products/{product['id']}", {"title": "新标题", "status": "on_sale"}, format="json"
    )

    assert_error(refused, 409, "deposit_short")
    assert Product.objects.get(pk=product["id"]).title == NEW_PRODUCT["title"]


def test_blocked_products_cannot_be_republished_by_the_merchant(me, general):
    staff, client = me
    pay_deposit(staff.merchant, 200_000, payer=staff.user)
    product = ProductFactory(merchant=staff.merchant, category=general, status=Product.Status.BLOCKED)
    SkuFactory(product=product)

    response = client.patch(f"/api/v1/merchant/products/{product.pk}", {"status": "on_sale"}, format="json")

    assert_error(response, 409, "product_blocked")


def test_products_only_in_the_merchants_categories_and_with_valid_terms(me, general):
    _, client = me
    elsewhere = CategoryFactory()

    wrong_category = client.post(
        "/api/v1/merchant/products", {**NEW_PRODUCT, "category_id": elsewhere.pk}, format="json"
    )
    too_much_commission = client.post(
        "/api/v1/merchant/products",
        {
            **NEW_PRODUCT,
            "category_id": general.pk,
            "skus": [{**NEW_PRODUCT["skus"][0], "commission_bps": 3_001}],
        },
        format="json",
    )
    bad_image = client.post(
        "/api/v1/merchant/products",
        {**NEW_PRODUCT, "category_id": general.pk, "images": ["javascript:alert(1)"]},
        format="json",
    )

    assert "category_id" in assert_error(wrong_category, 400, "validation_error")["fields"]
    assert "skus.0.commission_bps" in assert_error(too_much_commission, 400, "validation_error")["fields"]
    assert "images.0" in assert_error(bad_image, 400, "validation_error")["fields"]
    assert Product.objects.count() == 0


def test_add_and_change_skus(me, general):
    _, client = me
    product = create(client, general)

    added = client.post(
        f"/api/v1/merchant/products/{product['id']}/skus",
        {"code": "VD-12", "spec": {"规格": "12包"}, "price_fen": 2_690, "stock": 30, "commission_bps": 800},
        format="json",
    )
    assert added.status_code == 201
    duplicate = client.post(
        f"/api/v1/merchant/products/{product['id']}/skus",
        {"code": "VD-12", "price_fen": 2_690, "commission_bps": 800},
        format="json",
    )
    assert_error(duplicate, 409, "sku_code_taken")

    changed = client.patch(
        f"/api/v1/merchant/skus/{added.json()['id']}", {"price_fen": 2_490, "stock": 40}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["price_fen"], changed.json()["on_hand"]) == (2_490, 40)
    assert client.get(f"/api/v1/merchant/products/{product['id']}").json()["min_price_fen"] == 2_490


def test_another_merchants_products_and_skus_are_not_found_and_unchanged(me, general):
    _, client = me
    theirs = ProductFactory(title="别人的商品", status=Product.Status.ON_SALE)
    their_sku = SkuFactory(product=theirs, price_fen=1_990, on_hand=9)
    before = (theirs.title, theirs.status, their_sku.price_fen, their_sku.on_hand, Sku.objects.count())

    responses = [
        client.get(f"/api/v1/merchant/products/{theirs.pk}"),
        client.patch(f"/api/v1/merchant/products/{theirs.pk}", {"title": "抢走"}, format="json"),
        client.patch(f"/api/v1/merchant/products/{theirs.pk}", {"status": "off_sale"}, format="json"),
        client.post(
            f"/api/v1/merchant/products/{theirs.pk}/skus",
            {"code": "X", "price_fen": 100, "commission_bps": 1_000},
            format="json",
        ),
        client.get(f"/api/v1/merchant/skus/{their_sku.pk}"),
        client.patch(f"/api/v1/merchant/skus/{their_sku.pk}", {"price_fen": 1, "stock": 0}, format="json"),
    ]

    for response in responses:
        assert_error(response, 404, "not_found")
    theirs.refresh_from_db()
    their_sku.refresh_from_db()
    assert (
        theirs.title,
        theirs.status,
        their_sku.price_fen,
        their_sku.on_hand,
        Sku.objects.count(),
    ) == before
    assert client.get("/api/v1/merchant/products").json()["count"] == 0


def test_non_staff_and_unapproved_merchants_get_403(make_client, general):
    shopper = make_client(MerchantStaffFactory(merchant__status=Merchant.Status.PENDING).user)
    anonymous = make_client()

    assert_error(shopper.get("/api/v1/merchant/products"), 403, "not_merchant_staff")
    assert_error(anonymous.get("/api/v1/merchant/products"), 401)


def test_deduction_suspends_and_top_up_restores_through_the_shoppers_view(me, general, make_client):
    staff, client = me
    pay_deposit(staff.merchant, 200_000, payer=staff.user)
    product = create(client, general)
    client.patch(f"/api/v1/merchant/products/{product['id']}", {"status": "on_sale"}, format="json")
    assert api_public_count(client) == 1

    deposit_deduct(merchant_id=staff.merchant.pk, amount_fen=1, reason_code="late_shipment", actor=None)

    mine = client.get(f"/api/v1/merchant/products/{product['id']}").json()
    assert mine["status"] == "suspended"
    assert "日用百货" in mine["status_reason"]
    assert api_public_count(client) == 0
    assert_error(make_client().get(f"/api/v1/products/{product['id']}"), 404)

    pay_deposit(staff.merchant, 100, payer=staff.user)  # the smallest payment (¥1)

    assert client.get(f"/api/v1/merchant/products/{product['id']}").json()["status"] == "on_sale"
    assert api_public_count(client) == 1


def test_a_commission_the_share_could_not_carry_is_refused_whatever_the_category_allows(me):
    _, client = me
    # A category created before the share cap, allowing up to 50 %.
    loose = CategoryFactory(name="旧类目", commission_min_bps=100, commission_max_bps=5_000)
    me[0].merchant.categories.add(loose)

    refused = client.post(
        "/api/v1/merchant/products",
        {
            **NEW_PRODUCT,
            "category_id": loose.pk,
            "skus": [{**NEW_PRODUCT["skus"][0], "commission_bps": 2_941}],
        },
        format="json",
    )
    fine = client.post(
        "/api/v1/merchant/products",
        {
            **NEW_PRODUCT,
            "category_id": loose.pk,
            "skus": [{**NEW_PRODUCT["skus"][0], "commission_bps": 2_940}],
        },
        format="json",
    )

    problems = assert_error(refused, 400, "validation_error")["fields"]["skus.0.commission_bps"]
    assert "2940 bps" in problems[0]
    assert fine.status_code == 201


def test_category_bounds_above_the_share_cap_are_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="At most 2940 bps"):
        CategoryFactory.build(commission_max_bps=3_000).clean()
    CategoryFactory.build(commission_max_bps=2_940).clean()

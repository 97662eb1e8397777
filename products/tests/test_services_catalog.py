import pytest

from products.errors import (
    CategoryChangeRefused,
    ProductBlocked,
    ProductHasNoSkus,
    ProductStatusChangeRefused,
    SkuCodeTaken,
)
from products.models import Product, ProductStatusChange, Sku
from products.services import (
    product_change_status,
    product_create,
    product_update,
    products_restore_in_categories,
    products_suspend_in_categories,
    sku_create,
    sku_set_on_hand_many,
    sku_update,
)
from products.tests.factories import CategoryFactory, ProductFactory, SellerFactory, SkuFactory
from shop.errors import ValidationFailed

pytestmark = pytest.mark.django_db

SKU = {"code": "VD-24", "spec": {"规格": "24包"}, "price_fen": 4_990, "on_hand": 50, "commission_bps": 1_000}


@pytest.fixture
def category():
    return CategoryFactory(name="日用百货", commission_min_bps=500, commission_max_bps=3_000)


def test_create_makes_a_draft_with_its_skus_and_lowest_price(category):
    merchant = SellerFactory()

    product = product_create(
        merchant_id=merchant.pk,
        category=category,
        title="  维达抽纸 3层100抽 纸巾 ",
        images=["https://img.example.com/a.jpg"],
        skus=[SKU, {**SKU, "code": "VD-12", "price_fen": 2_690, "team_price_fen": 2_190, "team_size": 3}],
    )

    assert product.status == Product.Status.DRAFT
    assert product.title == "维达抽纸 3层100抽 纸巾"
    assert product.min_price_fen == 2_690
    skus = list(product.skus.order_by("code"))
    assert [(s.code, s.on_hand, s.reserved, s.merchant_id) for s in skus] == [
        ("VD-12", 50, 0, merchant.pk),
        ("VD-24", 50, 0, merchant.pk),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"commission_bps": 499}, "skus.0.commission_bps"),
        ({"commission_bps": 3_001}, "skus.0.commission_bps"),
        ({"team_price_fen": 3_000}, "skus.0.team_price_fen"),  # size missing
        ({"team_price_fen": 4_990, "team_size": 2}, "skus.0.team_price_fen"),  # not below price
        ({"team_price_fen": 3_000, "team_size": 11}, "skus.0.team_size"),
        ({"price_fen": 0}, "skus.0.price_fen"),
    ],
)
def test_create_refuses_bad_sku_terms_and_writes_nothing(category, changes, field):
    merchant = SellerFactory()

    with pytest.raises(ValidationFailed) as refused:
        product_create(merchant_id=merchant.pk, category=category, title="纸巾", skus=[{**SKU, **changes}])

    assert field in refused.value.fields
    assert Product.objects.count() == 0


def test_codes_are_unique_per_merchant_not_across_merchants(category):
    mine, theirs = SellerFactory(), SellerFactory()
    product_create(merchant_id=theirs.pk, category=category, title="纸巾", skus=[SKU])
    product_create(merchant_id=mine.pk, category=category, title="纸巾", skus=[SKU])

    with pytest.raises(SkuCodeTaken):
        product_create(merchant_id=mine.pk, category=category, title="又一个", skus=[SKU])
    with pytest.raises(ValidationFailed):
        product_create(merchant_id=mine.pk, category=category, title="重复", skus=[{**SKU, "code": "X"}] * 2)

    assert Sku.objects.filter(code="VD-24").count() == 2
    assert Product.objects.count() == 2


def test_sku_update_merges_and_checks_the_whole_sku(category):
    product = ProductFactory(category=category)
    sku = sku_create(product_id=product.pk, data=SKU)

    sku_update(sku_id=sku.pk, changes={"price_fen": 3_990, "team_price_fen": 2_990, "team_size": 2})
    with pytest.raises(ValidationFailed):
        sku_update(sku_id=sku.pk, changes={"price_fen": 2_000})  # now below the team price

    sku.refresh_from_db()
    product.refresh_from_db()
    assert (sku.price_fen, sku.team_price_fen, sku.team_size) == (3_990, 2_990, 2)
    assert product.min_price_fen == 3_990


def test_moving_category_is_refused_on_sale_and_when_commission_does_not_fit(category):
    product = ProductFactory(category=category, status=Product.Status.ON_SALE)
    SkuFactory(product=product, commission_bps=1_000)
    narrow = CategoryFactory(commission_min_bps=100, commission_max_bps=800)

    with pytest.raises(CategoryChangeRefused):
        product_update(product_id=product.pk, category=narrow)
    Product.objects.filter(pk=product.pk).update(status=Product.Status.OFF_SALE)
    with pytest.raises(ValidationFailed):
        product_update(product_id=product.pk, category=narrow)

    product.refresh_from_db()
    assert product.category_id == category.pk


def test_status_moves_follow_the_transitions_and_leave_a_history(category):
    product = ProductFactory(category=category, status=Product.Status.DRAFT)
    with pytest.raises(ProductHasNoSkus):
        product_change_status(product_id=product.pk, to_status=Product.Status.ON_SALE)
    SkuFactory(product=product)

    product_change_status(product_id=product.pk, to_status=Product.Status.ON_SALE)
    product_change_status(product_id=product.pk, to_status=Product.Status.ON_SALE)  # repeat: no-op
    product_change_status(product_id=product.pk, to_status=Product.Status.BLOCKED, reason="假货")
    with pytest.raises(ProductBlocked):
        product_change_status(product_id=product.pk, to_status=Product.Status.ON_SALE)
    draft = ProductFactory(status=Product.Status.DRAFT)
    with pytest.raises(ProductStatusChangeRefused):
        product_change_status(product_id=draft.pk, to_status=Product.Status.OFF_SALE)

    product.refresh_from_db()
    assert (product.status, product.status_reason) == (Product.Status.BLOCKED, "假货")
    history = list(
        ProductStatusChange.objects.filter(product=product)
        .order_by("pk")
        .values_list("from_status", "to_status")
    )
    assert history == [("draft", "on_sale"), ("on_sale", "blocked")]


def test_suspend_and_restore_touch_only_listings_in_those_categories(category):
    other_category = CategoryFactory()
    merchant = SellerFactory()
    on_sale = ProductFactory(merchant=merchant, category=category, status=Product.Status.ON_SALE)
    off_sale = ProductFactory(merchant=merchant, category=category, status=Product.Status.OFF_SALE)
    elsewhere = ProductFactory(merchant=merchant, category=other_category, status=Product.Status.ON_SALE)
    someone_elses = ProductFactory(category=category, status=Product.Status.ON_SALE)

    suspended = products_suspend_in_categories(
        merchant_id=merchant.pk, category_ids=[category.pk], reason="short"
    )
    restored = products_restore_in_categories(merchant_id=merchant.pk, category_ids=[category.pk])

    assert suspended == [on_sale.pk]
    assert restored == [on_sale.pk]
    statuses = dict(Product.objects.values_list("pk", "status"))
    assert statuses == {
        on_sale.pk: "on_sale",
        off_sale.pk: "off_sale",
        elsewhere.pk: "on_sale",
        someone_elses.pk: "on_sale",
    }
    assert ProductStatusChange.objects.filter(product=on_sale).count() == 2


def test_set_on_hand_many_keeps_reservations_and_skips_unchanged_rows():
    merchant = SellerFactory()
    a = SkuFactory(product__merchant=merchant, on_hand=10, reserved=4)
    b = SkuFactory(product__merchant=merchant, on_hand=7, reserved=0)
    theirs = SkuFactory(on_hand=3)

    changed = sku_set_on_hand_many(merchant_id=merchant.pk, rows=[(b.pk, 7), (a.pk, 2), (theirs.pk, 99)])

    a.refresh_from_db()
    b.refresh_from_db()
    theirs.refresh_from_db()
    assert changed == 1
    assert (a.on_hand, a.reserved, a.available) == (2, 4, 0)
    assert b.on_hand == 7
    assert theirs.on_hand == 3

"""Products and SKUs pages: list with search, create, edit, on/off sale, SKUs; another
merchant's product is a 404; bad input is the form again with the error, nothing written."""

from __future__ import annotations

from unittest import mock

import pytest

from merchants.models import MerchantStaff
from merchants.tests.factories import pay_deposit
from products.models import Product, Sku
from products.tests.factories import ProductFactory, SkuFactory
from shop.errors import PermissionDenied

pytestmark = pytest.mark.django_db


def test_the_list_shows_the_merchants_products_and_searches_by_title(shop, other_shop):
    ProductFactory(merchant=shop.merchant, category=shop.category, title="清风卷纸 10卷")
    page = shop.client.get("/console/products").content.decode()
    assert "维达抽纸" in page
    assert "清风卷纸" in page

    found = shop.client.get("/console/products", {"q": "清风"}).content.decode()
    assert "清风卷纸" in found
    assert "维达抽纸" not in found


def test_the_list_is_paginated(shop):
    for n in range(25):
        ProductFactory(merchant=shop.merchant, category=shop.category, title=f"批量商品 {n:02d}")
    first = shop.client.get("/console/products")
    assert first.status_code == 200
    assert len(first.context["page"].object_list) == 20
    assert first.context["page"].has_next
    assert 'href="?page=2"' in first.content.decode()
    second = shop.client.get("/console/products", {"page": 2})
    assert len(second.context["page"].object_list) == 6
    assert not second.context["page"].has_next
    for bad in ("0", "-1", "x", "99999999999"):  # shown as page 1
        assert shop.client.get("/console/products", {"page": bad}).context["page"].number == 1
    assert shop.client.get("/console/products", {"page": 50}).context["page"].object_list == []


def test_creating_a_product_makes_a_draft_in_the_merchants_category(shop):
    response = shop.client.post(
        "/console/products/new",
        {"title": "洁柔面巾纸", "category_id": shop.category.pk, "description": "", "images": ""},
    )
    product = Product.objects.get(title="洁柔面巾纸")
    assert response.status_code == 302
    assert response["Location"] == f"/console/products/{product.pk}"
    assert product.merchant_id == shop.merchant.pk
    assert product.status == Product.Status.DRAFT


def test_a_product_in_a_category_not_the_merchants_is_refused_and_nothing_written(shop, other_shop):
    response = shop.client.post(
        "/console/products/new", {"title": "越界商品", "category_id": other_shop.category.pk}
    )
    assert response.status_code == 400
    assert "Not one of your shop&#x27;s categories" in response.content.decode()
    assert not Product.objects.filter(title="越界商品").exists()


def test_a_blank_title_is_shown_as_an_error(shop):
    response = shop.client.post("/console/products/new", {"title": "", "category_id": shop.category.pk})
    assert response.status_code == 400
    assert "title" in response.context["errors"]


def test_editing_the_title(shop):
    response = shop.client.post(f"/console/products/{shop.product.pk}", {"title": "维达抽纸 新包装"})
    assert response.status_code == 302
    shop.product.refresh_from_db()
    assert shop.product.title == "维达抽纸 新包装"


def test_off_sale_and_on_sale_again(shop):
    url = f"/console/products/{shop.product.pk}"
    assert shop.client.post(url, {"status": "off_sale"}).status_code == 302
    shop.product.refresh_from_db()
    assert shop.product.status == Product.Status.OFF_SALE
    assert shop.client.post(url, {"status": "on_sale"}).status_code == 302
    shop.product.refresh_from_db()
    assert shop.product.status == Product.Status.ON_SALE


def test_on_sale_is_refused_when_the_deposit_does_not_cover_the_category(shop):
    shop.category.deposit_fen = 100_000
    shop.category.save(update_fields=["deposit_fen"])
    draft = ProductFactory(merchant=shop.merchant, category=shop.category, status=Product.Status.DRAFT)
    SkuFactory(product=draft, code="DRAFT-1")
    response = shop.client.post(f"/console/products/{draft.pk}", {"status": "on_sale"})
    assert response.status_code == 409
    assert "needs a deposit of ¥1000.00" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Product.Status.DRAFT

    pay_deposit(shop.merchant, 100_000)
    response = shop.client.post(f"/console/products/{draft.pk}", {"status": "on_sale"})
    assert response.status_code == 302, response.context["errors"]
    draft.refresh_from_db()
    assert draft.status == Product.Status.ON_SALE


def test_a_status_the_merchant_may_not_set_is_refused(shop):
    response = shop.client.post(f"/console/products/{shop.product.pk}", {"status": "blocked"})
    assert response.status_code == 400
    shop.product.refresh_from_db()
    assert shop.product.status == Product.Status.ON_SALE


def test_adding_a_sku_in_yuan_stores_fen(shop):
    response = shop.client.post(
        f"/console/products/{shop.product.pk}/skus",
        {"code": "VD-12", "price": "12.9", "stock": "30", "commission_bps": "500", "spec": "规格: 12包"},
    )
    assert response.status_code == 302
    sku = Sku.objects.get(merchant=shop.merchant, code="VD-12")
    assert (sku.price_fen, sku.on_hand, sku.commission_bps, sku.spec) == (1_290, 30, 500, {"规格": "12包"})


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", "12.999"), ("price", "-1"), ("price", "abc"), ("stock", "-3"), ("spec", "no colon here")],
)
def test_a_bad_sku_field_is_shown_and_nothing_written(shop, field, value):
    data = {"code": "BAD-1", "price": "9.90", "stock": "1", "commission_bps": "500", "spec": ""}
    data[field] = value
    response = shop.client.post(f"/console/products/{shop.product.pk}/skus", data)
    assert response.status_code == 400
    assert field in response.context["sku_errors"]  # under the form's own field name
    assert not Sku.objects.filter(code="BAD-1").exists()


def test_a_price_the_api_refuses_is_shown_under_the_price_field(shop):
    data = {"code": "BAD-2", "price": "0", "stock": "1", "commission_bps": "500"}
    response = shop.client.post(f"/console/products/{shop.product.pk}/skus", data)
    assert response.status_code == 400
    assert "price" in response.context["sku_errors"]
    assert not Sku.objects.filter(code="BAD-2").exists()


def test_editing_a_sku_changes_only_what_was_filled_in(shop):
    response = shop.client.post(f"/console/skus/{shop.sku.pk}", {"price": "18.80", "stock": ""})
    assert response.status_code == 302
    shop.sku.refresh_from_db()
    assert (shop.sku.price_fen, shop.sku.on_hand) == (1_880, 50)


def test_another_merchants_product_and_sku_are_404(shop, other_shop):
    pid, sid = other_shop.product.pk, other_shop.sku.pk
    assert shop.client.get(f"/console/products/{pid}").status_code == 404
    assert shop.client.post(f"/console/products/{pid}", {"status": "off_sale"}).status_code == 404
    assert shop.client.post(f"/console/products/{pid}/skus", {"code": "X"}).status_code == 404
    assert shop.client.get(f"/console/skus/{sid}").status_code == 404
    assert shop.client.post(f"/console/skus/{sid}", {"price": "1.00"}).status_code == 404
    other_shop.product.refresh_from_db()
    other_shop.sku.refresh_from_db()
    assert other_shop.product.status == Product.Status.ON_SALE
    assert other_shop.sku.price_fen == 1_990


@pytest.mark.parametrize("path", ["/console/products", "/console/products/new", "/console/skus/1"])
def test_non_staff_are_sent_to_sign_in(client, stranger_client, path):
    for visitor in (client, stranger_client):
        response = visitor.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/signin")


def test_an_operator_manages_products(make_shop):
    operator = make_shop(MerchantStaff.Role.OPERATOR)
    response = operator.client.post(f"/console/products/{operator.product.pk}", {"status": "off_sale"})
    assert response.status_code == 302


def test_a_role_the_service_refuses_gets_a_403_page_and_nothing_changes(make_shop):
    """Role rules live in the services; the page shows their refusal (here a stand-in for the
    services' own check, which answers ``PermissionDenied``)."""
    finance = make_shop(MerchantStaff.Role.FINANCE)
    refused = PermissionDenied("Finance staff may not.")
    with mock.patch("console.pages.products.merchant_product_update", side_effect=refused):
        response = finance.client.post(f"/console/products/{finance.product.pk}", {"status": "off_sale"})
    assert response.status_code == 403
    assert "Finance staff may not." in response.content.decode()
    finance.product.refresh_from_db()
    assert finance.product.status == Product.Status.ON_SALE


def test_every_form_carries_a_csrf_token(shop):
    pages = ("/console/products/new", f"/console/products/{shop.product.pk}", f"/console/skus/{shop.sku.pk}")
    for path in pages:
        assert 'name="csrfmiddlewaretoken"' in shop.client.get(path).content.decode()


def test_csrf_is_enforced(shop):
    from django.test import Client

    from .helpers import console_login

    strict = Client(enforce_csrf_checks=True)
    console_login(strict, shop.staff.user)
    response = strict.post(f"/console/products/{shop.product.pk}", {"status": "off_sale"})
    assert response.status_code == 403
    shop.product.refresh_from_db()
    assert shop.product.status == Product.Status.ON_SALE

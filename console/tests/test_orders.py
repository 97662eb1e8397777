"""Orders pages: list and its filters, one order with the single ship form, the shipping list
downloads (what the merchant needs to ship and nothing more), tracking numbers in bulk with a
bad row; another merchant's orders are out of reach; role refusals come from the services."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import load_workbook

from merchants.models import MerchantStaff
from orders.models import Order
from orders.tests.helpers import ADDRESS
from products.tests.factories import ProductFactory, SkuFactory
from shop.errors import PermissionDenied

pytestmark = pytest.mark.django_db

SHIP = {"carrier": "顺丰", "tracking_no": "SF123456"}


def _ids(response) -> list[int]:
    return [order.pk for order in response.context["page"].object_list]


def _csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_list_shows_the_merchants_orders_newest_first(shop, other_shop):
    first, second = shop.paid_order(), shop.paid_order()
    theirs = other_shop.paid_order()
    response = shop.client.get("/console/orders")
    assert response.status_code == 200
    assert _ids(response) == [second.pk, first.pk]
    assert theirs.pk not in _ids(response)
    page = response.content.decode()
    assert "维达抽纸 3层100抽 × 1" in page
    assert ADDRESS["phone"] not in page  # the list shows no address; the order page does


def test_filters_by_status_number_product_and_dates(shop):
    towel = SkuFactory(product=ProductFactory(merchant=shop.merchant, category=shop.category, title="毛巾"))
    paper, cloth = shop.paid_order(), shop.paid_order(sku=towel)
    Order.objects.filter(pk=paper.pk).update(created_at=timezone.now() - timedelta(days=10))
    shipped = shop.paid_order()
    shop.client.post(f"/console/orders/{shipped.pk}", {"carrier": "顺丰", "tracking_no": "SF1000"})
    get = shop.client.get

    assert _ids(get("/console/orders", {"status": "paid"})) == [cloth.pk, paper.pk]
    assert _ids(get("/console/orders", {"status": "shipped"})) == [shipped.pk]
    assert _ids(get("/console/orders", {"order": paper.pk})) == [paper.pk]
    assert _ids(get("/console/orders", {"product": towel.product_id})) == [cloth.pk]
    today = timezone.localdate().isoformat()
    assert _ids(get("/console/orders", {"date_from": today})) == [shipped.pk, cloth.pk]
    old = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert _ids(get("/console/orders", {"date_from": old, "date_to": old})) == [paper.pk]


@pytest.mark.parametrize(
    "query", [{"date_from": "2026-13-40"}, {"order": "abc"}, {"status": "lost"}, {"product": "999999"}]
)
def test_a_bad_filter_is_shown_not_a_crash(shop, query):
    shop.paid_order()
    response = shop.client.get("/console/orders", query)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert len(_ids(response)) == 1  # the list, unfiltered


def test_another_merchants_product_is_not_a_filter_choice(shop, other_shop):
    response = shop.client.get("/console/orders", {"product": other_shop.product.pk})
    assert response.status_code == 400


def test_the_list_is_paginated(shop):
    for _ in range(21):
        shop.paid_order()
    response = shop.client.get("/console/orders", {"status": "paid", "page": 2})
    assert len(_ids(response)) == 1
    assert not response.context["page"].has_next
    assert "status=paid&amp;page=1" in response.content.decode()


@pytest.mark.parametrize("status", ["pending_payment", "cancelled", "completed"])
def test_an_order_the_merchant_no_longer_acts_on_shows_no_address(shop, status, make_client):
    order = shop.paid_order()
    Order.objects.filter(pk=order.pk).update(status=status)

    page = shop.client.get(f"/console/orders/{order.pk}").content.decode()
    listed = make_client(shop.staff.user).get("/api/v1/merchant/orders").json()["results"]

    assert ADDRESS["phone"] not in page
    assert ADDRESS["detail"] not in page
    assert [o["address"] for o in listed if o["id"] == order.pk] == [None]


def test_the_order_page_shows_the_address_to_ship_to(shop):
    order = shop.paid_order()
    page = shop.client.get(f"/console/orders/{order.pk}").content.decode()
    assert ADDRESS["name"] in page
    assert ADDRESS["phone"] in page
    assert ADDRESS["detail"] in page
    assert 'name="tracking_no"' in page


def test_single_ship(shop):
    order = shop.paid_order()
    response = shop.client.post(f"/console/orders/{order.pk}", {"carrier": "顺丰", "tracking_no": "SF123456"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_no) == ("shipped", "顺丰", "SF123456")


@pytest.mark.parametrize(
    "data", [{"carrier": "顺丰", "tracking_no": "x"}, {"carrier": "", "tracking_no": "SF123456"}, {}]
)
def test_single_ship_with_bad_input_shows_the_error_and_ships_nothing(shop, data):
    order = shop.paid_order()
    response = shop.client.post(f"/console/orders/{order.pk}", data)
    assert response.status_code == 400
    assert response.context["errors"]
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_shipping_again_with_another_number_is_refused(shop):
    order = shop.paid_order()
    shop.client.post(f"/console/orders/{order.pk}", {"carrier": "顺丰", "tracking_no": "SF123456"})
    response = shop.client.post(f"/console/orders/{order.pk}", {"carrier": "中通", "tracking_no": "ZT999999"})
    assert response.status_code == 409
    order.refresh_from_db()
    assert order.tracking_no == "SF123456"


def test_another_merchants_order_is_404_and_stays_unshipped(shop, other_shop):
    theirs = other_shop.paid_order()
    assert shop.client.get(f"/console/orders/{theirs.pk}").status_code == 404
    response = shop.client.post(
        f"/console/orders/{theirs.pk}", {"carrier": "顺丰", "tracking_no": "SF123456"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Order.Status.PAID


def test_the_shipping_list_csv_has_the_paid_orders_with_their_addresses(shop, other_shop):
    first, second = shop.paid_order(qty=2), shop.paid_order()
    shipped = shop.paid_order()
    shop.client.post(f"/console/orders/{shipped.pk}", {"carrier": "顺丰", "tracking_no": "SF1000"})
    other_shop.paid_order()
    response = shop.client.get("/console/orders/shipping-list.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="shipping-list-')
    rows = _csv_rows(response)
    assert rows[0][:3] == ["order_no", "carrier", "tracking_no"]
    assert [row[0] for row in rows[1:]] == [str(first.pk), str(second.pk)]  # oldest payment first
    by_column = dict(zip(rows[0], rows[1], strict=True))
    assert by_column["items"] == "维达抽纸 3层100抽 (10包) × 2"
    assert (by_column["recipient"], by_column["phone"]) == (ADDRESS["name"], ADDRESS["phone"])
    assert (by_column["region"], by_column["address"]) == (ADDRESS["region"], ADDRESS["detail"])
    assert by_column["delivery_type"] == "address"


def test_the_shipping_list_xlsx_has_the_same_rows(shop):
    order = shop.paid_order()
    response = shop.client.get("/console/orders/shipping-list.xlsx")
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("order_no", "carrier", "tracking_no")
    assert rows[1][0] == order.pk
    assert rows[1][7] == ADDRESS["phone"]


def test_a_formula_in_an_address_is_written_as_text(shop):
    order = shop.paid_order()
    Order.objects.filter(pk=order.pk).update(address={**ADDRESS, "detail": '=HYPERLINK("http://evil")'})
    rows = _csv_rows(shop.client.get("/console/orders/shipping-list.csv"))
    assert rows[1][9] == '\'=HYPERLINK("http://evil")'
    xlsx = shop.client.get("/console/orders/shipping-list.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.cell(row=2, column=10).data_type == "s"


def _tracking_file(rows: list[list[str]]) -> SimpleUploadedFile:
    out = io.StringIO()
    csv.writer(out).writerows([["order_no", "carrier", "tracking_no"], *rows])
    return SimpleUploadedFile("tracking.csv", out.getvalue().encode(), content_type="text/csv")


def test_tracking_numbers_in_bulk_with_a_bad_row(shop, other_shop):
    first, second = shop.paid_order(), shop.paid_order()
    theirs = other_shop.paid_order()
    rows = [
        [str(first.pk), "顺丰", "SF0001"],
        [str(theirs.pk), "顺丰", "SF0002"],
        [str(second.pk), "中通", "ZT 0003"],
    ]
    response = shop.client.post("/console/orders/tracking", {"file": _tracking_file(rows)})
    assert response.status_code == 200
    result = response.context["result"]
    assert result.shipped == [first.pk]
    assert [(row["line"], row["order_no"]) for row in result.failed] == [
        (3, str(theirs.pk)),
        (4, str(second.pk)),
    ]
    page = response.content.decode()
    assert "No such order." in page
    assert "The tracking number must be 4 to 64 letters, digits or dashes." in page
    first.refresh_from_db(), second.refresh_from_db(), theirs.refresh_from_db()
    assert (first.status, first.tracking_no) == ("shipped", "SF0001")
    assert second.status == theirs.status == Order.Status.PAID

    again = shop.client.post("/console/orders/tracking", {"file": _tracking_file(rows[:1])})
    assert (again.context["result"].shipped, again.context["result"].unchanged) == ([], [first.pk])


def test_the_filled_in_shipping_list_uploads_back_as_the_tracking_file(shop):
    order = shop.paid_order()
    rows = _csv_rows(shop.client.get("/console/orders/shipping-list.csv"))
    rows[1][1:3] = ["韵达", "YD778899"]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    upload = SimpleUploadedFile("shipping-list.csv", ("\ufeff" + out.getvalue()).encode())
    response = shop.client.post("/console/orders/tracking", {"file": upload})
    assert response.context["result"].shipped == [order.pk]


def test_an_unusable_tracking_file_is_refused(shop):
    bad = SimpleUploadedFile("t.csv", b"number,who\n1,2\n")
    response = shop.client.post("/console/orders/tracking", {"file": bad})
    assert response.status_code == 400
    assert "order_no and carrier and tracking_no" in response.content.decode()
    assert shop.client.post("/console/orders/tracking", {}).status_code == 400


@pytest.mark.parametrize(
    "path",
    ["/console/orders", "/console/orders/1", "/console/orders/shipping-list.csv", "/console/orders/tracking"],
)
def test_non_staff_are_sent_to_sign_in(client, stranger_client, path):
    for visitor in (client, stranger_client):
        response = visitor.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/signin")


def test_an_operator_ships(make_shop):
    operator = make_shop(MerchantStaff.Role.OPERATOR)
    order = operator.paid_order()
    response = operator.client.post(
        f"/console/orders/{order.pk}", {"carrier": "顺丰", "tracking_no": "SF7777"}
    )
    assert response.status_code == 302


def test_a_role_the_service_refuses_gets_a_403_and_nothing_ships(make_shop):
    """The services own the role rules; the page passes their ``PermissionDenied`` on."""
    finance = make_shop(MerchantStaff.Role.FINANCE)
    order = finance.paid_order()
    refused = PermissionDenied("Finance staff may not ship orders.")
    with mock.patch("console.pages.orders.order_ship", side_effect=refused):
        response = finance.client.post(
            f"/console/orders/{order.pk}", {"carrier": "顺丰", "tracking_no": "SF7777"}
        )
    assert response.status_code == 403
    assert "Finance staff may not ship orders." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_date_at_the_end_of_the_calendar_is_a_form_error_not_a_crash(shop):
    response = shop.client.get("/console/orders", {"date_to": "9999-12-31"})

    assert response.status_code == 400  # the form again with its error, the list unfiltered
    assert "Enter a date between 2000 and 2100." in response.content.decode()

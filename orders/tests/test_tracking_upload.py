"""Tracking numbers in bulk (``order_ship_from_file``) and the shipping list
(``shipping_list_rows``): each row ships through ``order_ship``; a bad row fails alone with its
reason; a re-upload is a no-op; the list shows what the merchant needs to ship, never a
pickup code."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from openpyxl import Workbook

from groupstore.tests.factories import make_store
from merchants.errors import StockFileBadHeader, StockFileTooLarge
from orders.models import Order, OrderEvent, Pickup
from orders.services.tracking_upload import order_ship_from_file
from orders.shipping_list import SHIPPING_LIST_COLUMNS, shipping_list_rows
from products.tests.factories import SkuFactory

from .helpers import buy, buy_paid
from .test_pickup import POINT, Venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid():
    sku = SkuFactory(on_hand=20)
    store, _, (buyer,) = make_store(members=1)
    orders = [buy_paid(buyer=buyer, store=store, sku=sku) for _ in range(3)]
    return sku.merchant_id, orders, (buyer, store, sku)


def _csv(lines: list[str]) -> io.BytesIO:
    return io.BytesIO(("order_no,carrier,tracking_no\n" + "\n".join(lines) + "\n").encode())


def _run(merchant_id, fileobj, filename="t.csv"):
    return order_ship_from_file(merchant_id=merchant_id, fileobj=fileobj, filename=filename, actor=None)


def test_each_row_ships_and_a_bad_row_fails_alone(paid):
    merchant_id, (a, b, c), (buyer, store, sku) = paid
    unpaid = buy(buyer=buyer, store=store, sku=sku).orders[0]
    result = _run(
        merchant_id,
        _csv(
            [
                f"{a.pk},顺丰,SF0001",
                f"{unpaid.pk},顺丰,SF0002",  # not paid: cannot ship
                f"{b.pk},,SF0003",  # no carrier
                "abc,顺丰,SF0004",
                f"{c.pk},中通,ZT0005",
                f"{a.pk},中通,ZT0006",  # the same order again with another number
            ]
        ),
    )
    assert result.rows == 6
    assert result.shipped == [a.pk, c.pk]
    assert [(f["line"], f["order_no"]) for f in result.failed] == [
        (3, str(unpaid.pk)),
        (4, str(b.pk)),
        (5, "abc"),
        (7, str(a.pk)),
    ]
    assert result.failed[1]["reason"] == "No carrier."
    a.refresh_from_db(), b.refresh_from_db(), unpaid.refresh_from_db()
    assert (a.status, a.tracking_no) == (Order.Status.SHIPPED, "SF0001")
    assert b.status == Order.Status.PAID
    assert unpaid.status == Order.Status.PENDING_PAYMENT


def test_a_re_upload_changes_nothing(paid):
    merchant_id, (a, b, _), _ = paid
    lines = [f"{a.pk},顺丰,SF0001", f"{b.pk},顺丰,SF0002"]
    assert _run(merchant_id, _csv(lines)).shipped == [a.pk, b.pk]
    again = _run(merchant_id, _csv(lines))
    assert (again.shipped, again.unchanged, again.failed) == ([], [a.pk, b.pk], [])
    assert OrderEvent.objects.filter(order=a, kind="shipped").count() == 1


def test_another_merchants_order_is_not_found(paid):
    _, (a, _, _), _ = paid
    other = SkuFactory().merchant_id
    result = _run(other, _csv([f"{a.pk},顺丰,SF0001"]))
    assert result.failed == [{"line": 2, "order_no": str(a.pk), "reason": "No such order."}]
    a.refresh_from_db()
    assert a.status == Order.Status.PAID


def test_xlsx_numbers_are_read_as_the_digits_excel_shows(paid):
    merchant_id, (a, _, _), _ = paid
    workbook = Workbook()
    workbook.active.append(["订单号", "快递公司", "快递单号"])
    workbook.active.append([a.pk, "顺丰", 773012345678901])  # Excel keeps both as numbers
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = _run(merchant_id, io.BytesIO(buffer.getvalue()), "t.xlsx")
    assert result.shipped == [a.pk]
    a.refresh_from_db()
    assert a.tracking_no == "773012345678901"


def test_a_file_without_the_columns_ships_nothing(paid):
    merchant_id, (a, _, _), _ = paid
    with pytest.raises(StockFileBadHeader, match="order_no and carrier and tracking_no"):
        _run(merchant_id, io.BytesIO(f"order,who\n{a.pk},x\n".encode()))


def test_too_many_rows_ship_nothing(paid):
    merchant_id, (a, b, _), _ = paid
    with mock.patch("orders.services.tracking_upload.MAX_ROWS", 1), pytest.raises(StockFileTooLarge):
        _run(merchant_id, _csv([f"{a.pk},顺丰,SF0001", f"{b.pk},顺丰,SF0002"]))
    a.refresh_from_db()
    assert a.status == Order.Status.PAID


def test_the_shipping_list_of_a_pickup_order_names_the_point_and_leader_not_the_code(make_client):
    venue = Venue(make_client)
    order = venue.paid_pickup_order()
    code = Pickup.objects.get(order=order).code
    (row,) = list(shipping_list_rows(merchant_id=order.merchant_id))
    by_column = dict(zip(SHIPPING_LIST_COLUMNS, row, strict=True))
    assert by_column["order_no"] == order.pk
    assert by_column["delivery_type"] == "pickup"
    assert (by_column["recipient"], by_column["phone"]) == (POINT["contact_name"], POINT["contact_phone"])
    assert by_column["address"] == POINT["address"]
    assert code not in [str(cell) for cell in row]


def test_rows_not_filled_in_are_skipped_and_not_counted_against_the_cap(paid):
    merchant_id, (a, b, c), _ = paid
    with mock.patch("orders.services.tracking_upload.MAX_ROWS", 1):
        result = _run(merchant_id, _csv([f"{a.pk},,", f"{b.pk},顺丰,SF0002", f"{c.pk},,"]))
    assert (result.rows, result.skipped, result.shipped, result.failed) == (1, 2, [b.pk], [])
    a.refresh_from_db()
    assert a.status == Order.Status.PAID

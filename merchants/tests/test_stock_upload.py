"""Bulk stock upload: CSV (UTF-8, BOM, GBK) and XLSX; every bad row with its line and
reason; good rows applied in one transaction; dry run; other merchants untouched."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from merchants.models import StockUpload
from merchants.services import stock_upload_run
from merchants.tests.factories import MerchantStaffFactory
from products.models import Sku
from products.tests.factories import SkuFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(make_client):
    staff = MerchantStaffFactory()
    skus = {
        code: SkuFactory(product__merchant=staff.merchant, code=code, on_hand=10, reserved=reserved)
        for code, reserved in [("VD-24", 3), ("VD-12", 0), ("抽纸-大包", 0)]
    }
    return staff, make_client(staff.user), skus


def on_hand(skus) -> dict[str, tuple[int, int]]:
    return {
        code: tuple(Sku.objects.filter(pk=s.pk).values_list("on_hand", "reserved").get())
        for code, s in skus.items()
    }


def upload(client, content: bytes, name="stock.csv", **extra):
    return client.post(
        "/api/v1/merchant/stock-uploads",
        {"file": SimpleUploadedFile(name, content), **extra},
        format="multipart",
    )


def xlsx(rows) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


CSV_TEXT = "sku_code,stock\r\nVD-24,100\r\nVD-12,0\r\n抽纸-大包,7\r\n"


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (CSV_TEXT.encode("utf-8"), "utf-8"),
        (CSV_TEXT.encode("utf-8-sig"), "utf-8-sig"),
        (CSV_TEXT.encode("gbk"), "gbk"),  # what Excel on Chinese Windows saves
        (CSV_TEXT.replace(",", "\t").encode("utf-16"), "utf-16"),  # Excel's "Unicode text"
    ],
)
def test_csv_in_every_encoding_excel_writes_sets_absolute_on_hand(me, content, encoding):
    _, client, skus = me

    response = upload(client, content)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["file_format"], body["encoding"]) == ("csv", encoding)
    assert (body["rows"], body["applied"], body["changed"], body["errors"]) == (3, 3, 3, [])
    # reservations are kept apart: VD-24 still holds its 3 reserved units
    assert on_hand(skus) == {"VD-24": (100, 3), "VD-12": (0, 0), "抽纸-大包": (7, 0)}


def test_xlsx_upload_with_numbers_as_excel_stores_them(me):
    staff, client, skus = me
    SkuFactory(product__merchant=staff.merchant, code="10086", on_hand=1)

    response = upload(
        client,
        xlsx(
            [
                ["SKU_Code", "Stock", "商品名"],
                ["VD-24", 55, "维达"],
                [None, None, None],
                [10086, 9.0, "数字编码"],
            ]
        ),
        name="stock.xlsx",
    )

    body = response.json()
    assert response.status_code == 201, body
    assert (body["file_format"], body["rows"], body["applied"], body["errors"]) == ("xlsx", 2, 2, [])
    assert Sku.objects.get(code="10086").on_hand == 9
    assert on_hand(skus)["VD-24"] == (55, 3)


def test_every_bad_row_comes_back_with_its_line_and_good_rows_apply(me):
    _, client, skus = me
    theirs = SkuFactory(code="THEIRS-1", on_hand=5)
    content = (
        b"sku_code,stock\n"
        b"VD-24,20\n"  # 2 ok
        b"NOPE,5\n"  # 3 unknown
        b"THEIRS-1,1\n"  # 4 another merchant's code
        b"VD-12,-3\n"  # 5 negative
        b"VD-12,2.5\n"  # 6 not an integer
        b"VD-12,abc\n"  # 7 not an integer
        b",4\n"  # 8 no code
        b"VD-12,\n"  # 9 no stock
        b"\n"  # 10 blank line: skipped
        b"VD-24,30\n"  # 11 duplicate of line 2
        b"VD-12,6\n"  # 12 ok
    )

    body = upload(client, content).json()

    assert [(e["line"], e["code"]) for e in body["errors"]] == [
        (3, "unknown_sku"),
        (4, "unknown_sku"),  # shown like an unknown code: no peeking at other merchants' codes
        (5, "negative_stock"),
        (6, "not_integer"),
        (7, "not_integer"),
        (8, "missing_code"),
        (9, "missing_stock"),
        (11, "duplicate_code"),
    ]
    assert "line 2" in body["errors"][-1]["reason"]
    assert (body["rows"], body["valid"], body["applied"], body["error_count"]) == (10, 2, 2, 8)
    assert on_hand(skus)["VD-24"] == (20, 3)  # the first line wins
    assert on_hand(skus)["VD-12"] == (6, 0)
    theirs.refresh_from_db()
    assert theirs.on_hand == 5
    # ops see the real reason in the audit record
    record = StockUpload.objects.get(pk=body["id"])
    assert record.errors[1]["code"] == "other_merchant_sku"


def test_dry_run_checks_and_changes_nothing(me):
    _, client, skus = me

    body = upload(client, CSV_TEXT.encode(), dry_run="true").json()

    assert (body["dry_run"], body["status"], body["valid"], body["applied"], body["changed"]) == (
        True,
        "checked",
        3,
        0,
        0,
    )
    assert on_hand(skus) == {"VD-24": (10, 3), "VD-12": (10, 0), "抽纸-大包": (10, 0)}


def test_uploading_the_same_file_again_changes_nothing(me):
    _, client, skus = me
    upload(client, CSV_TEXT.encode())

    again = upload(client, CSV_TEXT.encode()).json()

    assert (again["applied"], again["changed"]) == (3, 0)
    assert on_hand(skus) == {"VD-24": (100, 3), "VD-12": (0, 0), "抽纸-大包": (7, 0)}


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"", "stock.csv", "upload_empty"),
        (b"sku_code,stock\r\n\r\n", "stock.csv", "upload_empty"),
        (b"code;qty\nVD-24;1\n", "stock.csv", "upload_bad_header"),
        (b"name,price\nVD-24,1\n", "stock.csv", "upload_bad_header"),
        (b"sku_code,stock\n\xff\xfe\xfa\x80\x81,1\n", "stock.csv", "upload_bad_encoding"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest-of-an-old-xls", "stock.xls", "upload_unreadable"),
        (b"PK\x03\x04 not really a zip", "stock.xlsx", "upload_unreadable"),
        (b"sku_code,stock\nVD-24,1\n", "stock.xlsx", "upload_unreadable"),
        (b"sku_code,stock\nVD\x0024,1\n", "stock.csv", "upload_unreadable"),
    ],
)
def test_unusable_files_are_refused_whole_and_recorded(me, content, name, code):
    staff, client, skus = me

    response = upload(client, content, name=name)

    error = assert_error(response, 400, code)
    assert error["fields"]["file"]
    assert on_hand(skus) == {"VD-24": (10, 3), "VD-12": (10, 0), "抽纸-大包": (10, 0)}
    record = StockUpload.objects.get(merchant=staff.merchant)
    assert (record.status, record.rejection_code) == ("rejected", code)


def test_header_problems_name_the_line(me):
    _, client, _ = me

    error = assert_error(upload(client, b"\n\nfoo,bar\n"), 400, "upload_bad_header")

    assert error["message"].startswith("Line 3:")


def test_uploads_of_another_merchant_are_not_found(me, make_client):
    _, client, skus = me
    mine = upload(client, CSV_TEXT.encode()).json()
    other = MerchantStaffFactory()
    other_client = make_client(other.user)

    assert_error(other_client.get(f"/api/v1/merchant/stock-uploads/{mine['id']}"), 404)
    assert other_client.get("/api/v1/merchant/stock-uploads").json()["count"] == 0
    # the other merchant uploading my codes changes none of my SKUs
    theirs = other_client.post(
        "/api/v1/merchant/stock-uploads",
        {"file": SimpleUploadedFile("x.csv", b"sku_code,stock\nVD-24,999\n")},
        format="multipart",
    ).json()
    assert (theirs["applied"], theirs["errors"][0]["code"]) == (0, "unknown_sku")
    assert on_hand(skus)["VD-24"] == (100, 3)
    assert client.get(f"/api/v1/merchant/stock-uploads/{mine['id']}").json()["applied"] == 3


def test_errors_beyond_the_cap_are_counted_not_listed(me, monkeypatch):
    staff, _, _ = me
    monkeypatch.setattr("merchants.services.stock_upload.MAX_ERRORS_KEPT", 3)
    content = "sku_code,stock\n" + "".join(f"NOPE-{i},1\n" for i in range(10))

    record = stock_upload_run(
        merchant_id=staff.merchant.pk,
        fileobj=io.BytesIO(content.encode()),
        filename="x.csv",
        actor=staff.user,
    )

    assert record.error_count == 10
    assert [e["line"] for e in record.errors] == [2, 3, 4]


def test_ops_import_from_admin_uses_the_same_import(me, admin_client):
    staff, _, skus = me

    response = admin_client.post(
        "/admin/merchants/stockupload/import/",
        {
            "merchant": staff.merchant.pk,
            "file": SimpleUploadedFile("ops.csv", CSV_TEXT.encode("gbk")),
            "apply": "1",
        },
    )

    assert response.status_code == 302
    record = StockUpload.objects.get()
    assert (record.via, record.dry_run, record.applied, record.encoding) == ("admin", False, 3, "gbk")
    assert on_hand(skus)["VD-24"] == (100, 3)

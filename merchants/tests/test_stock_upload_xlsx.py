"""XLSX stock uploads through the API: Excel's shared strings applied like any file; a zip
bomb or a file that is not a workbook refused whole with its documented 400."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from merchants.models import StockUpload
from merchants.tests.factories import MerchantStaffFactory
from products.models import Sku
from products.tests.factories import SkuFactory
from shop.testing.asserts import assert_error
from shop.testing.xlsx import excel_workbook, sheet_xml, workbook_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(make_client):
    staff = MerchantStaffFactory()
    for code in ("VD-24", "10086"):
        SkuFactory(product__merchant=staff.merchant, code=code, on_hand=10)
    return staff, make_client(staff.user)


def upload(client, content: bytes, name="stock.xlsx"):
    return client.post(
        "/api/v1/merchant/stock-uploads",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )


def test_an_excel_file_with_shared_strings_and_text_numbers_applies(me):
    _, client = me
    content = excel_workbook([["商品编码", "库存"], ["VD-24", "12"], [10086, 3], ["VD-24", 4]])

    body = upload(client, content).json()

    assert (body["file_format"], body["rows"], body["applied"]) == ("xlsx", 3, 2)
    assert [(e["line"], e["code"]) for e in body["errors"]] == [(4, "duplicate_code")]
    assert dict(Sku.objects.values_list("code", "on_hand")) == {"VD-24": 12, "10086": 3}


def test_a_zip_bomb_is_refused_as_too_large(me, monkeypatch):
    staff, client = me
    monkeypatch.setattr("merchants.xlsx.sheet.MAX_SHEET_BYTES", 50_000)
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, 5_000))

    response = upload(client, workbook_bytes(sheet_xml(rows)))  # 100 kB of XML in a few kB

    error = assert_error(response, 400, "upload_too_large")
    assert error["fields"]["file"]
    assert StockUpload.objects.get(merchant=staff.merchant).rejection_code == "upload_too_large"
    assert set(Sku.objects.values_list("on_hand", flat=True)) == {10}


@pytest.mark.parametrize(
    "content",
    [
        workbook_bytes(sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>')),  # no shared strings
        workbook_bytes('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'),
        excel_workbook([["sku_code", "stock"], ["VD-24", 1]])[:-200],  # cut short
    ],
)
def test_a_file_that_is_not_a_readable_workbook_is_refused(me, content):
    _, client = me

    assert_error(upload(client, content), 400, "upload_unreadable")
    assert set(Sku.objects.values_list("on_hand", flat=True)) == {10}

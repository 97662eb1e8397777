"""Stock upload pages: a file with a bad row applies the good rows and shows the bad one (line,
reason); an unusable file is refused with nothing applied; the template downloads hold the
merchant's SKUs and nothing of anyone else's; another merchant's upload is a 404."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook, load_workbook

from merchants.models import StockUpload
from products.tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


def _csv(text: str, name: str = "stock.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_the_page_shows_the_form_and_template_links(shop):
    page = shop.client.get("/console/stock").content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert "/console/stock/template.csv" in page
    assert "/console/stock/template.xlsx" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_an_upload_with_one_bad_row_applies_the_rest_and_shows_the_bad_row(shop):
    SkuFactory(product=shop.product, code="VD-12", on_hand=5)
    response = shop.client.post(
        "/console/stock", {"file": _csv("sku_code,stock\nVD-24,80\nNOPE-1,3\nVD-12,-2\n")}, follow=True
    )
    assert response.status_code == 200
    upload = StockUpload.objects.get(merchant=shop.merchant)
    assert response.redirect_chain == [(f"/console/stock/uploads/{upload.pk}", 302)]
    assert (upload.status, upload.rows, upload.applied, upload.error_count) == ("applied", 3, 1, 2)
    shop.sku.refresh_from_db()
    assert shop.sku.on_hand == 80

    bad_rows = response.context["bad_rows"]
    assert [(row["line"], row["code"]) for row in bad_rows] == [(3, "unknown_sku"), (4, "negative_stock")]
    page = response.content.decode()
    assert "No SKU of yours has the code &#x27;NOPE-1&#x27;." in page
    assert "Stock cannot be negative (-2)." in page


def test_a_code_of_another_merchant_is_shown_as_unknown(shop, other_shop):
    response = shop.client.post("/console/stock", {"file": _csv("sku_code,stock\nVD-24,1\n")}, follow=True)
    assert response.context["upload"].error_count == 0  # both shops have a VD-24: each its own
    other_shop.sku.refresh_from_db()
    assert other_shop.sku.on_hand == 50
    SkuFactory(product=other_shop.product, code="THEIRS-9")
    response = shop.client.post("/console/stock", {"file": _csv("sku_code,stock\nTHEIRS-9,1\n")}, follow=True)
    assert [row["code"] for row in response.context["bad_rows"]] == ["unknown_sku"]


def test_a_dry_run_changes_nothing(shop):
    shop.client.post("/console/stock", {"file": _csv("sku_code,stock\nVD-24,7\n"), "dry_run": "1"})
    shop.sku.refresh_from_db()
    assert shop.sku.on_hand == 50
    assert StockUpload.objects.get(merchant=shop.merchant).status == StockUpload.Status.CHECKED


def test_an_unusable_file_is_refused_with_the_reason_and_nothing_applied(shop):
    response = shop.client.post("/console/stock", {"file": _csv("code_of_sku,qty_x\nVD-24,1\n")})
    assert response.status_code == 400
    assert "the header must name the columns sku_code and stock" in response.content.decode()
    shop.sku.refresh_from_db()
    assert shop.sku.on_hand == 50
    assert StockUpload.objects.get(merchant=shop.merchant).status == StockUpload.Status.REJECTED


def test_no_file_is_an_error_not_a_crash(shop):
    response = shop.client.post("/console/stock", {})
    assert response.status_code == 400
    assert "Choose a CSV or XLSX file." in response.content.decode()


def test_an_htmx_upload_gets_the_result_fragment(shop):
    response = shop.client.post(
        "/console/stock", {"file": _csv("sku_code,stock\nVD-24,9\nNOPE,1\n")}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert 'id="bad-rows"' in page
    assert 'id="count-applied">1<' in page


def test_an_xlsx_upload(shop):
    workbook = Workbook()
    workbook.active.append(["sku_code", "stock"])
    workbook.active.append(["VD-24", 12])
    buffer = io.BytesIO()
    workbook.save(buffer)
    file = SimpleUploadedFile("stock.xlsx", buffer.getvalue())
    shop.client.post("/console/stock", {"file": file})
    shop.sku.refresh_from_db()
    assert shop.sku.on_hand == 12


def test_the_csv_template_lists_the_merchants_skus_with_todays_stock(shop, other_shop):
    SkuFactory(product=other_shop.product, code="THEIRS-9", on_hand=7)
    response = shop.client.get("/console/stock/template.csv")
    assert response["Content-Disposition"] == 'attachment; filename="stock.csv"'
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["sku_code", "stock", "product"],
        ["VD-24", "50", "维达抽纸 3层100抽"],
    ]


def test_the_xlsx_template_uploads_back_unchanged(shop):
    response = shop.client.get("/console/stock/template.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["sku_code", "stock", "product"],
        ["VD-24", 50, "维达抽纸 3层100抽"],
    ]
    again = shop.client.post(
        "/console/stock", {"file": SimpleUploadedFile("stock.xlsx", response.content)}, follow=True
    )
    upload = again.context["upload"]
    assert (upload.applied, upload.changed, upload.error_count) == (1, 0, 0)


def test_an_unknown_template_format_is_404(shop):
    assert shop.client.get("/console/stock/template.pdf").status_code == 404


def test_another_merchants_upload_is_404(shop, other_shop):
    other_shop.client.post("/console/stock", {"file": _csv("sku_code,stock\nVD-24,1\n")})
    upload = StockUpload.objects.get(merchant=other_shop.merchant)
    assert shop.client.get(f"/console/stock/uploads/{upload.pk}").status_code == 404
    assert other_shop.client.get(f"/console/stock/uploads/{upload.pk}").status_code == 200


@pytest.mark.parametrize(
    "path", ["/console/stock", "/console/stock/template.csv", "/console/stock/uploads/1"]
)
def test_non_staff_are_sent_to_sign_in(client, stranger_client, path):
    for visitor in (client, stranger_client):
        response = visitor.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/signin")


def test_an_htmx_upload_of_an_unusable_file_gets_the_reason_as_a_fragment(shop):
    response = shop.client.post(
        "/console/stock", {"file": _csv("nothing,here\n1,2\n")}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400  # the form swaps a 400 in (hx-on::before-swap)
    page = response.content.decode()
    assert "<html" not in page
    assert "the header must name the columns sku_code and stock" in page

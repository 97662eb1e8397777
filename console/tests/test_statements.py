"""The statements pages: the merchant's own statements, a statement's lines, and downloads
that are the API's export (same figures, same lines); someone else's statement is a 404."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from merchants.models import MerchantStaff
from merchants.tests.factories import MerchantStaffFactory
from rebates.models import MerchantStatement
from rebates.services.statements import merchant_statements_write
from rebates.statement_export import export_field
from rebates.tests.test_services_statements import D0, D1, D2, a_busy_day

from .helpers import console_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english(client):
    """These tests read the English messages (the console speaks Chinese by default)."""
    client.cookies["console_lang"] = "en"


LIST = "/console/statements"


@pytest.fixture
def books(client):
    """Two merchants' statements of D0–D2; the client is signed in as the first's finance."""
    staff, other_staff = MerchantStaffFactory(), MerchantStaffFactory()
    a_busy_day(staff.merchant_id, other_staff.merchant_id)
    for day in (D0, D1, D2):
        merchant_statements_write(date=day)
    finance = MerchantStaffFactory(merchant=staff.merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, finance.user)
    return staff.merchant, other_staff.merchant


def test_the_list_is_the_merchants_own_newest_first(client, books):
    mine, theirs = books

    html = client.get(LIST).content.decode()

    assert html.index(str(D2)) < html.index(str(D1)) < html.index(str(D0))
    for statement in MerchantStatement.objects.filter(merchant=mine):
        assert f'/console/statements/{statement.pk}"' in html
    for statement in MerchantStatement.objects.filter(merchant=theirs):
        assert f'/console/statements/{statement.pk}"' not in html


def test_a_statement_shows_its_figures_and_lines(client, books):
    mine, _ = books
    statement = MerchantStatement.objects.get(merchant=mine, date=D1)

    response = client.get(f"{LIST}/{statement.pk}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "期末余额 <code>closing_fen</code>" in html
    closing = statement.closing_fen
    assert f"¥{closing // 100}.{closing % 100:02d}" in html
    assert html.count("订单支付") == statement.lines.filter(kind="order_paid_shared").count()
    assert len(response.context["lines"]) == statement.lines.count() == 16


def test_the_csv_download_is_the_apis_export(client, books, make_client):
    mine, _ = books
    statement = MerchantStatement.objects.get(merchant=mine, date=D1)

    response = client.get(f"{LIST}/{statement.pk}/download.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="statement-{mine.pk}-{D1}.csv"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    summary = {export_field(row[0]): row[1] for row in rows[: rows.index([])]}
    assert int(summary["closing_fen"]) == statement.closing_fen
    assert int(summary["sales_fen"]) == statement.sales_fen
    assert len(rows) - rows.index([]) - 2 == statement.lines.count()
    api = make_client(MerchantStaffFactory(merchant=mine).user).get(
        f"/api/v1/merchant/statements/{statement.pk}/export", {"file": "csv"}
    )
    assert b"".join(api.streaming_content) == body


def test_the_xlsx_download_has_the_figures_and_the_lines(client, books):
    mine, _ = books
    statement = MerchantStatement.objects.get(merchant=mine, date=D1)

    response = client.get(f"{LIST}/{statement.pk}/download.xlsx")

    assert response.status_code == 200
    assert "spreadsheetml" in response["Content-Type"]
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    summary = {export_field(row[0]): row[1] for row in book["汇总"].iter_rows(values_only=True)}
    assert summary["closing_fen"] == statement.closing_fen
    assert summary["refunds_fen"] == statement.refunds_fen
    assert len(list(book["明细"].iter_rows(values_only=True))) == statement.lines.count() + 1


def test_another_merchants_statement_is_not_found(client, books):
    _, theirs = books
    statement = MerchantStatement.objects.filter(merchant=theirs).first()

    for url in (
        f"{LIST}/{statement.pk}",
        f"{LIST}/{statement.pk}/download.csv",
        f"{LIST}/{statement.pk}/download.xlsx",
    ):
        assert client.get(url).status_code == 404
    assert client.get(f"{LIST}/{statement.pk}/download.pdf").status_code == 404


def test_an_operator_may_not_see_statements(client, books):
    mine, _ = books
    operator = MerchantStaffFactory(merchant=mine, role=MerchantStaff.Role.OPERATOR)
    console_login(client, operator.user)
    statement = MerchantStatement.objects.filter(merchant=mine).first()

    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}/{statement.pk}/download.csv").status_code == 403


def test_a_visitor_who_is_not_staff_is_sent_to_sign_in(books):
    from django.test import Client

    statement = MerchantStatement.objects.filter(merchant=books[0]).first()
    for url in (LIST, f"{LIST}/{statement.pk}", f"{LIST}/{statement.pk}/download.csv"):
        assert Client().get(url)["Location"].startswith("/console/signin")


@pytest.mark.parametrize(
    "url",
    [
        f"{LIST}/{10**30}",
        f"{LIST}/{10**30}/download.csv",
        f"/console/deposit/payments/{10**30}",
        f"/console/deposit/payments/{10**30}/status",
        f"/console/after-sales/{10**30}",
    ],
)
def test_an_id_beyond_any_row_is_a_404_not_a_500(client, books, url):
    owner = MerchantStaffFactory(merchant=books[0], role=MerchantStaff.Role.OWNER)
    console_login(client, owner.user)

    assert client.get(url).status_code == 404

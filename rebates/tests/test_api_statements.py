"""``/merchant/statements`` (docs/api.md): the merchant's own statements only, newest first or
oldest first, paginated lines, and exports that parse back to the same figures."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import pytest
from openpyxl import load_workbook

from accounts.tests.factories import UserFactory
from merchants.tests.factories import MerchantStaffFactory
from rebates.models import MerchantStatement, MerchantStatementLine
from rebates.services.statements import merchant_statements_write
from rebates.statement_export import export_field
from rebates.tests.test_services_statements import D0, D1, D2, a_busy_day
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

FIELDS = [
    "id",
    "date",
    "opening_fen",
    "sales_fen",
    "subsidy_fen",
    "gateway_fee_fen",
    "commission_fen",
    "platform_fee_fen",
    "refunds_fen",
    "released_fen",
    "closing_fen",
    "held_fen",
    "returned_fen",
    "refunds_after_release_fen",
    "deductions_fen",
]


@pytest.fixture
def books():
    """Two merchants' statements of D0–D2; ``staff`` works for the first."""
    staff, other_staff = MerchantStaffFactory(), MerchantStaffFactory()
    a_busy_day(staff.merchant_id, other_staff.merchant_id)
    for day in (D0, D1, D2):
        merchant_statements_write(date=day)
    return staff, other_staff


def test_the_list_is_the_merchants_own_newest_first_with_api_md_fields(books, make_client):
    staff, other_staff = books

    body = make_client(staff.user).get("/api/v1/merchant/statements").json()

    assert body["count"] == 3
    assert [row["date"] for row in body["results"]] == [str(D2), str(D1), str(D0)]
    assert list(body["results"][1]) == FIELDS
    d1 = MerchantStatement.objects.get(merchant_id=staff.merchant_id, date=D1)
    assert body["results"][1] == {f: getattr(d1, f) if f not in ("date",) else str(d1.date) for f in FIELDS}
    others = set(
        MerchantStatement.objects.filter(merchant_id=other_staff.merchant_id).values_list("pk", flat=True)
    )
    assert not others & {row["id"] for row in body["results"]}


def test_ordering_date_is_oldest_first_and_pages(books, make_client):
    staff, _ = books

    body = (
        make_client(staff.user)
        .get("/api/v1/merchant/statements", {"ordering": "date", "page_size": 2})
        .json()
    )

    assert [row["date"] for row in body["results"]] == [str(D0), str(D1)]
    assert body["next"]


def test_an_unknown_ordering_is_a_400(books, make_client):
    assert_error(
        make_client(books[0].user).get("/api/v1/merchant/statements", {"ordering": "closing_fen"}), 400
    )


def test_only_merchant_staff_see_statements(books, make_client):
    assert_error(make_client(UserFactory()).get("/api/v1/merchant/statements"), 403)
    assert_error(make_client(None).get("/api/v1/merchant/statements"), 401)


def test_lines_are_paginated_and_someone_elses_are_404(books, make_client):
    staff, other_staff = books
    mine = MerchantStatement.objects.get(merchant_id=staff.merchant_id, date=D1)
    theirs = MerchantStatement.objects.get(merchant_id=other_staff.merchant_id, date=D1)
    client = make_client(staff.user)

    body = client.get(f"/api/v1/merchant/statements/{mine.pk}/lines", {"page_size": 5}).json()

    assert body["count"] == mine.lines.count() == 16
    assert len(body["results"]) == 5
    assert set(body["results"][0]) == {"order_id", "kind", "amount_fen", "at"}
    assert body["results"][0] == {
        "order_id": 1,
        "kind": "order_paid_shared",
        "amount_fen": 10_000,
        "at": body["results"][0]["at"],
    }
    assert_error(client.get(f"/api/v1/merchant/statements/{theirs.pk}/lines"), 404, "statement_not_found")
    assert_error(client.get(f"/api/v1/merchant/statements/{theirs.pk}/export"), 404, "statement_not_found")
    assert_error(client.get("/api/v1/merchant/statements/999999/lines"), 404)


def _check_parsed(statement: MerchantStatement, summary: dict[str, object], lines: list[list]) -> None:
    figures = {f: v for f, v in summary.items() if f.endswith("_fen")}
    assert figures == {f: getattr(statement, f) for f in FIELDS if f.endswith("_fen")}
    assert str(summary["date"]) == str(statement.date)
    sums: dict[str, int] = defaultdict(int)
    for _order, kind, _label, amount, _at in lines:
        sums[MerchantStatementLine.FIGURE_OF_KIND[kind]] += int(amount)
    for figure, total in sums.items():
        assert figures[figure] == total, figure
    assert len(lines) == statement.lines.count()


def test_the_csv_export_parses_back_to_the_same_figures(books, make_client):
    staff, _ = books
    statement = MerchantStatement.objects.get(merchant_id=staff.merchant_id, date=D1)

    response = make_client(staff.user).get(
        f"/api/v1/merchant/statements/{statement.pk}/export", {"file": "csv"}
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f"statement-{staff.merchant_id}-{D1}.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    blank = rows.index([])
    summary = {
        export_field(k): int(v) if export_field(k).endswith(("_fen", "_id")) else v for k, v in rows[:blank]
    }
    assert [export_field(h) for h in rows[blank + 1]] == ["order_id", "kind", "说明", "amount_fen", "at"]
    _check_parsed(statement, summary, rows[blank + 2 :])


def test_the_xlsx_export_parses_back_to_the_same_figures(books, make_client):
    staff, _ = books
    statement = MerchantStatement.objects.get(merchant_id=staff.merchant_id, date=D1)

    response = make_client(staff.user).get(
        f"/api/v1/merchant/statements/{statement.pk}/export", {"file": "xlsx"}
    )

    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    summary = {export_field(k): v for k, v in book["汇总"].iter_rows(values_only=True)}
    lines = list(book["明细"].iter_rows(values_only=True))
    assert [export_field(h) for h in lines[0]] == ["order_id", "kind", "说明", "amount_fen", "at"]
    _check_parsed(statement, summary, [list(row) for row in lines[1:]])


def test_an_unknown_file_type_is_a_400(books, make_client):
    staff, _ = books
    statement = MerchantStatement.objects.filter(merchant_id=staff.merchant_id).first()

    response = make_client(staff.user).get(
        f"/api/v1/merchant/statements/{statement.pk}/export", {"file": "pdf"}
    )

    assert_error(response, 400)


def test_ops_see_statements_read_only_with_their_lines(books, admin_client):
    statement = MerchantStatement.objects.get(merchant_id=books[0].merchant_id, date=D1)

    assert admin_client.get("/admin/rebates/merchantstatement/").status_code == 200
    page = admin_client.get(f"/admin/rebates/merchantstatement/{statement.pk}/change/")
    assert page.status_code == 200
    assert "order_paid_shared" in page.content.decode() or "Paid (sales)" in page.content.decode()
    lines = admin_client.get(f"/admin/rebates/merchantstatementline/?statement__id__exact={statement.pk}")
    assert lines.status_code == 200
    assert admin_client.get("/admin/rebates/merchantstatement/add/").status_code == 403

"""shop.db.rows_insert: plain tuples into a table, COPY on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shop.db import rows_insert
from shop.ledger.models import Transaction

pytestmark = pytest.mark.django_db

COLUMNS = ("idempotency_key", "kind", "memo", "ref_type", "ref_id", "created_at")


def test_rows_go_in_as_given_with_text_escaped_and_nulls():
    # given values COPY's text format must escape, a NULL and an aware datetime
    at = datetime(2026, 12, 1, 11, 30, 5, 123456, tzinfo=UTC)
    rows = [
        ("k1", "test", "tab\there, newline\nand back\\slash", "order", 7, at),
        ("k2", "test", "", "", None, at),
    ]

    # when
    rows_insert(model=Transaction, fields=COLUMNS, rows=rows)

    # then
    got = list(Transaction.objects.order_by("idempotency_key").values_list(*COLUMNS))
    assert got == rows


def test_no_rows_write_nothing():
    rows_insert(model=Transaction, fields=COLUMNS, rows=[])

    assert not Transaction.objects.exists()


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="aware"):
        rows_insert(
            model=Transaction,
            fields=COLUMNS,
            rows=[("k", "test", "", "", None, datetime(2026, 12, 1))],  # noqa: DTZ001
        )

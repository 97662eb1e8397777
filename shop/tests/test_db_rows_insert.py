"""shop.db.rows_insert: plain tuples into a table, COPY on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from shop.db import copy_escape, rows_copy, rows_insert
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


def test_rows_copy_streams_tuples_and_ready_lines_in_one_copy():
    at = datetime(2026, 12, 1, 11, 30, 5, tzinfo=UTC)

    def rows():
        for i in range(3_000):  # more than one 64 kB read
            yield (f"t{i:05d}", "test", "tab\there\\", "order", i, at)
        memo = copy_escape("ready\tline")
        yield f"ready\ttest\t{memo}\t\t\\N\t{at.isoformat()}\n"

    count = rows_copy(model=Transaction, fields=COLUMNS, rows=rows())

    assert count == 3_001
    assert Transaction.objects.count() == 3_001
    assert Transaction.objects.get(idempotency_key="t02999").memo == "tab\there\\"
    ready = Transaction.objects.get(idempotency_key="ready")
    assert (ready.memo, ready.ref_id, ready.created_at) == ("ready\tline", None, at)


def test_an_error_from_the_rows_aborts_the_copy_and_is_raised_as_it_is():
    def rows():
        yield ("k1", "test", "", "", None, datetime(2026, 12, 1, tzinfo=UTC))
        raise LookupError("the source broke")

    with pytest.raises(LookupError, match="the source broke"), transaction.atomic():
        rows_copy(model=Transaction, fields=COLUMNS, rows=rows())

    assert not Transaction.objects.exists()


def test_rows_copy_works_through_django_s_debug_cursor():
    """DEBUG=1 (the embedded default, ``make run``) wraps cursors in Django's debug cursor,
    whose ``copy_expert`` takes positional arguments only: a bill import failed there."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with CaptureQueriesContext(connection):  # forces the debug cursor, as DEBUG does
        count = rows_copy(model=Transaction, fields=COLUMNS, rows=[("d1", "test", "", "", None, at)])
    assert count == 1
    assert Transaction.objects.filter(idempotency_key="d1").exists()

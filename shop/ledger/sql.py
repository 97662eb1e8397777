"""The ledger's hand-written statements (docs/design.md "Where speed-ups live"): the inserts
of ``ledger_post_many``, which settlement runs for hundreds of orders at a time. Each names its
ORM equivalent; ``shop/tests/test_sql_equivalence.py`` runs both on real rows.

Both inserts skip a row whose unique key is already there (``ON CONFLICT … DO NOTHING``) and
return only the rows *this* statement inserted: a concurrent poster that commits the same key
first wins, and ours is a no-op rather than an error. PostgreSQL and SQLite (the embedded
demo) both speak this form.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from shop.db import column, table

from .models import Account, Transaction

ACCOUNT_BATCH = 1_000
TRANSACTION_BATCH = 500
TRANSACTION_COLUMNS = ("idempotency_key", "kind", "memo", "ref_type", "ref_id", "created_at")


def accounts_insert(
    *, refs: Sequence[tuple[str, str, int]], now: datetime
) -> list[tuple[int, str, str, int]]:
    """Insert accounts ``(kind, owner_type, owner_id)`` with a zero balance, in the order given
    (callers sort them, so two batches queue on the unique index instead of deadlocking);
    returns ``(pk, kind, owner_type, owner_id)`` of those inserted.

    ORM equivalent: ``Account.objects.bulk_create([...], ignore_conflicts=True)``, which
    cannot say which rows it inserted."""
    names = ("kind", "owner_type", "owner_id", "balance_fen", "created_at", "updated_at")
    columns = ", ".join(column(Account, name) for name in names)
    unique = ", ".join(column(Account, name) for name in names[:3])
    inserted = []
    with connection.cursor() as cursor:
        for start in range(0, len(refs), ACCOUNT_BATCH):
            chunk = refs[start : start + ACCOUNT_BATCH]
            # Only model metadata is interpolated; values are bound.
            cursor.execute(
                f"INSERT INTO {table(Account)} ({columns}) "  # noqa: S608
                f"VALUES {', '.join(['(%s, %s, %s, 0, %s, %s)'] * len(chunk))} "
                f"ON CONFLICT ({unique}) DO NOTHING RETURNING {column(Account, 'id')}, {unique}",
                [value for ref in chunk for value in (*ref, now, now)],
            )
            inserted += cursor.fetchall()
    return inserted


def transactions_insert(*, rows: Sequence[tuple]) -> list[tuple[int, str]]:
    """Insert transactions, each a tuple in ``TRANSACTION_COLUMNS`` order; returns ``(pk,
    idempotency_key)`` of those inserted (a key already taken is skipped by the database).

    ORM equivalent: ``Transaction.objects.bulk_create([...], ignore_conflicts=True)``, which
    cannot say which rows it inserted."""
    columns = ", ".join(column(Transaction, name) for name in TRANSACTION_COLUMNS)
    row = "(" + ", ".join(["%s"] * len(TRANSACTION_COLUMNS)) + ")"
    inserted = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), TRANSACTION_BATCH):
            chunk = rows[start : start + TRANSACTION_BATCH]
            # Only model metadata is interpolated; values are bound.
            cursor.execute(
                f"INSERT INTO {table(Transaction)} ({columns}) VALUES {', '.join([row] * len(chunk))} "  # noqa: S608
                f"ON CONFLICT ({column(Transaction, 'idempotency_key')}) DO NOTHING "
                f"RETURNING {column(Transaction, 'id')}, {column(Transaction, 'idempotency_key')}",
                [value for values in chunk for value in values],
            )
            inserted += cursor.fetchall()
    return inserted

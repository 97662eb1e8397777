"""Inserting many rows of a model at once, without a model instance per row.

``bulk_create`` builds an instance per row and prepares every field value through the
ORM: for a settlement batch (hundreds of envelopes and settlement rows a second) that
costs more Python time than the database spends on the rows. ``rows_insert`` takes plain
tuples: ``COPY … FROM STDIN`` on PostgreSQL, ``bulk_create`` elsewhere (the SQLite demo).
Values go in as given — no field defaults, no ``auto_now``: name every column that has
no database default, and pass ready values (ints, strs, bools, aware datetimes, None).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection, models


def rows_insert(*, model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert ``rows`` (tuples of values in ``fields`` order) into ``model``'s table."""
    rows = list(rows)
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=500
        )
        return
    meta = model._meta
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in fields)
    buffer = io.StringIO()
    buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
    buffer.seek(0)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(meta.db_table)
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def _copy_text(value: object) -> str:
    """One value in ``COPY``'s text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("rows_insert takes aware datetimes only")
        return value.isoformat()
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text

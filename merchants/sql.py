"""The merchants app's hand-written statement (docs/design.md "Where speed-ups live"), with
its ORM equivalent in the docstring; ``tests/test_sql_equivalence.py`` runs both on real rows."""

from __future__ import annotations

from functools import cache

from django.db import connection

from shop.db import column, execute, table

from .models import Merchant


@cache
def _payees_sql() -> str:
    return (
        f"SELECT {column(Merchant, 'id')}, {column(Merchant, 'sub_mchid')}, "  # noqa: S608
        f"{column(Merchant, 'company_name')} FROM {table(Merchant)} "
        f"WHERE {column(Merchant, 'id')} = ANY(%s) ORDER BY {column(Merchant, 'id')}"
    )


def merchant_payees(*, merchant_ids: list[int]) -> list[tuple[int, str, str]]:
    """``(id, sub_mchid, company_name)`` of these merchants, by id (unknown ids absent). Every
    shared checkout runs it, prepared: the ORM's compile of it cost more than the answer.

    ORM: ``list(Merchant.objects.filter(pk__in=ids).order_by("pk").values_list("pk",
    "sub_mchid", "company_name"))``."""
    with connection.cursor() as cursor:
        execute(cursor, _payees_sql(), [list(merchant_ids)])
        return [tuple(row) for row in cursor.fetchall()]

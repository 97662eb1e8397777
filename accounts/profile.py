"""What ``GET /me`` says about a user, contributed by the apps that know it.

``accounts`` sits low in the stack and cannot import ``merchants`` or ``groupstore``;
they register their fields here in ``AppConfig.ready()`` (``merchant_id``, ``is_leader``).
Each field is an SQL expression over the user's row (``OuterRef("pk")``: a subquery or an
``EXISTS``), so ``/me`` reads all of them in one query however many apps contribute. The
query is compiled once per process and run as a prepared statement (``shop.db.execute``):
compiling it took the ORM longer than PostgreSQL took to answer it (bench/RESULTS.md, the
authenticated floor).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Expression

from shop.db import STAND_IN, CompiledQuery, compiled_query, run_compiled
from shop.registry import Registry

from .models import User

ME_FIELDS: Registry[Callable[[], Expression]] = Registry("/me field")


def register_me_field(*, name: str, expression: Callable[[], Expression]) -> None:
    """``expression()`` builds the field's value for the user ``OuterRef("pk")`` names."""
    ME_FIELDS.register(name, expression)


@cache
def _me_statement(names: tuple[str, ...]) -> CompiledQuery:
    fields = {name: ME_FIELDS.get(name)() for name in names}
    return compiled_query(User.objects.filter(pk=STAND_IN).annotate(**fields).values_list(*names))


def me_fields(user) -> dict[str, Any]:
    """Every contributed field of ``user``, as the database gives it (ints, booleans)."""
    names = tuple(ME_FIELDS.names())
    if not names:
        return {}
    with connection.cursor() as cursor:
        run_compiled(cursor, _me_statement(names), [user.pk])
        row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else dict.fromkeys(names)

"""The accounts app's hand-written statement (docs/design.md "Where speed-ups live"), with its
ORM equivalent in the docstring; ``tests/test_sql_equivalence.py`` runs both on real rows."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection

from shop.db import column, execute, table

from .models import AuthToken, User


@cache
def _token_sql() -> str:
    users = ", ".join(f"u.{column(User, f.name)}" for f in User._meta.concrete_fields)
    return (
        f"SELECT t.{column(AuthToken, 'id')}, t.{column(AuthToken, 'expires_at')}, {users} "  # noqa: S608
        f"FROM {table(AuthToken)} t JOIN {table(User)} u "
        f"ON u.{column(User, 'id')} = t.{column(AuthToken, 'user')} "
        f"WHERE t.{column(AuthToken, 'key_hash')} = %s AND t.{column(AuthToken, 'revoked_at')} IS NULL "
        f"AND t.{column(AuthToken, 'expires_at')} > %s"
    )


def token_with_user(*, key_hash: str, now: datetime) -> tuple[User, AuthToken] | None:
    """The live token with this hash and its user (a real ``User``, every field), or None.
    Every authenticated request runs it, prepared: the ORM spent about four times as long
    compiling it as PostgreSQL spent answering, half the cost of the lightest call
    (bench/results/groupstore.md).

    ORM: ``AuthToken.objects.select_related("user").filter(key_hash=h, revoked_at=None,
    expires_at__gt=now).only("id", "expires_at", "user").first()``."""
    with connection.cursor() as cursor:
        execute(cursor, _token_sql(), [key_hash, now])
        row = cursor.fetchone()
    if row is None:
        return None
    user = User.from_db(connection.alias, [f.attname for f in User._meta.concrete_fields], row[2:])
    return user, AuthToken(id=row[0], user=user, expires_at=row[1])

"""``Authorization: Bearer <token>`` against hashed, expiring, revocable tokens."""

from __future__ import annotations

import re
from functools import cache

from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from shop.db import execute

from .models import AuthToken, User
from .services import token_hash

# What token_issue makes (secrets.token_urlsafe), with room to spare: anything else (a NUL,
# a control character, 10 KB of junk) is refused without a database round trip.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")


@cache
def _lookup_sql() -> tuple[str, list[str]]:
    """One hand-written join of token and user, built once from the models' metadata.

    Every authenticated request runs it: measured here, the ORM spent about four times
    as long compiling ``AuthToken.objects.select_related("user").filter(...)`` as
    PostgreSQL spent answering it, and that was half the cost of the lightest call
    (bench/results/groupstore.md). The row becomes a real ``User`` (``from_db``).
    """
    fields = User._meta.concrete_fields
    user_cols = ", ".join(f'u."{f.column}"' for f in fields)
    # Only model metadata is interpolated (column and table names); values are bound.
    sql = (
        f"SELECT t.id, t.expires_at, {user_cols} "  # noqa: S608
        f'FROM "{AuthToken._meta.db_table}" t JOIN "{User._meta.db_table}" u ON u.id = t.user_id '
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s"
    )
    return sql, [f.attname for f in fields]


def token_user(raw: str) -> tuple[User, AuthToken] | None:
    """The live token ``raw`` and its user, or None (unknown, revoked or expired)."""
    sql, attnames = _lookup_sql()
    with connection.cursor() as cursor:
        execute(cursor, sql, [token_hash(raw), timezone.now()])  # prepared: every request runs it
        row = cursor.fetchone()
    if row is None:
        return None
    user = User.from_db(connection.alias, attnames, row[2:])
    return user, AuthToken(id=row[0], user=user, expires_at=row[1])


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed token.") from None
        if not _TOKEN_SHAPE.fullmatch(raw):
            raise exceptions.AuthenticationFailed("Malformed token.")
        found = token_user(raw)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        user, token = found
        if user.is_frozen or not user.is_active:
            raise exceptions.AuthenticationFailed("This account is frozen.")
        return user, token

    def authenticate_header(self, request):
        return self.keyword

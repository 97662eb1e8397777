"""``Authorization: Bearer <token>`` against hashed, expiring, revocable tokens."""

from __future__ import annotations

import re

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import AuthToken, User
from .services import token_hash
from .sql import token_with_user

# What token_issue makes (secrets.token_urlsafe), with room to spare: anything else (a NUL,
# a control character, 10 KB of junk) is refused without a database round trip.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def bearer_token_shaped(header: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <token>`` with a token of the
    shape ``token_issue`` makes — checked without looking the token up."""
    keyword, _, raw = header.partition(" ")
    return keyword.lower() == "bearer" and _TOKEN_SHAPE.fullmatch(raw) is not None


def token_user(raw: str) -> tuple[User, AuthToken] | None:
    """The live token ``raw`` and its user, or None (unknown, revoked or expired)."""
    return token_with_user(key_hash=token_hash(raw), now=timezone.now())


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

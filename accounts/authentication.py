"""``Authorization: Bearer <token>`` against hashed, expiring, revocable tokens."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import AuthToken
from .services import token_hash


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
        token = (
            AuthToken.objects.select_related("user")
            .filter(key_hash=token_hash(raw), revoked_at__isnull=True, expires_at__gt=timezone.now())
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        user = token.user
        if user.is_frozen or not user.is_active:
            raise exceptions.AuthenticationFailed("This account is frozen.")
        return user, token

    def authenticate_header(self, request):
        return self.keyword

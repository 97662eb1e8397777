from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A shopper, owner, merchant staff member or ops user.

    Mini-program users are identified by their WeChat ``openid`` and have no usable
    password; ops users log in to admin with a username and password. ``phone`` is
    private: it never appears in anything an owner or leader sees.
    """

    openid = models.CharField(max_length=128, unique=True, null=True, blank=True)
    unionid = models.CharField(max_length=128, null=True, blank=True, db_index=True)
    nickname = models.CharField(max_length=64, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    # WeChat's session_key decrypts share-ticket data; it never leaves the server.
    session_key = models.CharField(max_length=128, blank=True)
    is_frozen = models.BooleanField(
        default=False, help_text="Frozen users cannot log in or use their tokens."
    )
    erased_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the person deleted their account (PIPL): personal fields erased.",
    )

    def __str__(self) -> str:
        return self.nickname or self.username


class AuthToken(models.Model):
    """An opaque bearer token, stored only as its SHA-256 hash."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.user_id} until {self.expires_at:%Y-%m-%d}"

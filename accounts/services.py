from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.audit.services import audit_record

from .errors import AccountFrozen
from .models import AuthToken, User
from .providers import exchange_code


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(*, user: User) -> str:
    """A new 30-day bearer token; only its hash is stored."""
    raw = secrets.token_urlsafe(32)
    AuthToken.objects.create(
        user=user, key_hash=token_hash(raw), expires_at=timezone.now() + settings.SHOP_RULES["TOKEN_TTL"]
    )
    return raw


def user_get_or_create_by_openid(*, openid: str, unionid: str | None = None) -> User:
    """The user for an openid, created on first login (safe under concurrent first logins)."""
    user = User.objects.filter(openid=openid).first()
    if user:
        return user
    try:
        with transaction.atomic():
            user = User(username=f"wx_{openid}"[:150], openid=openid, unionid=unionid)
            user.set_unusable_password()
            user.save()
            return user
    except IntegrityError:
        return User.objects.get(openid=openid)


def user_login_with_code(*, code: str, nickname: str = "", avatar_url: str = "") -> tuple[User, str]:
    """Exchange a ``wx.login`` code for our user and a token (docs/design.md "Login")."""
    session = exchange_code(code)
    user = user_get_or_create_by_openid(openid=session.openid, unionid=session.unionid)
    if user.is_frozen or not user.is_active:
        raise AccountFrozen()
    user.session_key = session.session_key
    update_fields = ["session_key"]
    if nickname:
        user.nickname = nickname
        update_fields.append("nickname")
    elif not user.nickname:
        user.nickname = f"user{user.pk}"
        update_fields.append("nickname")
    if avatar_url:
        user.avatar_url = avatar_url
        update_fields.append("avatar_url")
    user.save(update_fields=update_fields)
    return user, token_issue(user=user)


@transaction.atomic
def user_freeze(*, user_id: int, actor=None, reason: str = "") -> User:
    """Freeze a user: every token is revoked at once and logins are refused.

    Ops' decision (``actor`` = the ops user, ``reason`` = why) is recorded in the audit trail
    in this transaction, as ``user.freeze``; with no actor (tests, scripts) nothing is recorded."""
    user = User.objects.select_for_update(no_key=True).get(pk=user_id)
    revoked = AuthToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    was_frozen = user.is_frozen
    user.is_frozen = True
    user.save(update_fields=["is_frozen"])
    if actor is not None:
        audit_record(
            actor=actor,
            action="user.freeze",
            obj=user,
            reason=reason,
            details={"tokens_revoked": revoked, "was_frozen": was_frozen},
        )
    return user


@transaction.atomic
def user_unfreeze(*, user_id: int, actor=None, reason: str = "") -> None:
    """Lift a freeze (the user signs in again; revoked tokens stay revoked). Recorded as
    ``user.unfreeze`` when ops (``actor``) do it."""
    user = User.objects.select_for_update(no_key=True).get(pk=user_id)
    was_frozen = user.is_frozen
    User.objects.filter(pk=user_id).update(is_frozen=False)
    if actor is not None:
        audit_record(
            actor=actor, action="user.unfreeze", obj=user, reason=reason, details={"was_frozen": was_frozen}
        )

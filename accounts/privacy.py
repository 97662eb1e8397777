"""A person's data, exported or erased (PIPL; issue 19, item 8).

``accounts`` sits low in the stack and cannot import the apps that hold most of a person's
data (orders, stores, wallets, merchant staff). Each of them registers a section here, in
its ``AppConfig.ready()`` (through its own ``privacy.register_privacy()``):

- ``export(user)``: that app's part of ``GET /me/export`` (JSON-able);
- ``open_duties(user)``: human-readable reasons the account cannot be erased yet (money or
  duty still open: an unpaid order, a wallet balance, merchant staff, …);
- ``erase(user)``: blank or pseudonymise that app's personal fields of the user. What the
  law requires to keep (orders, ledger lines) stays, tied to the pseudonymised user.

``user_erase`` runs every check and every eraser in one transaction, under a lock on the
user row that also keeps new orders, memberships or staff rows (which reference the user)
from appearing between the checks and the erasure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from shop.registry import Registry

from .errors import AccountDeletionRefused
from .models import AuthToken, User

ERASED_NICKNAME = "已注销用户"  # "deleted user": what others see where the person appeared


@dataclass(frozen=True, slots=True)
class PrivacySection:
    name: str
    export: Callable[[User], Any] | None
    open_duties: Callable[[User], list[str]] | None
    erase: Callable[[User], None] | None


PRIVACY_SECTIONS: Registry[PrivacySection] = Registry("privacy section")


def register_privacy_section(
    *,
    name: str,
    export: Callable[[User], Any] | None = None,
    open_duties: Callable[[User], list[str]] | None = None,
    erase: Callable[[User], None] | None = None,
) -> None:
    """Register one app's part of a person's data (once per name: a second is a bug)."""
    if name == "profile":
        raise ValueError("the privacy section 'profile' is accounts' own")
    PRIVACY_SECTIONS.register(
        name, PrivacySection(name=name, export=export, open_duties=open_duties, erase=erase)
    )


def privacy_sections() -> list[PrivacySection]:
    return [section for _, section in sorted(PRIVACY_SECTIONS.items())]


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "nickname": user.nickname,
        "avatar_url": user.avatar_url,
        "phone": user.phone,
        "openid": user.openid,
        "unionid": user.unionid,
        "joined_at": user.date_joined,
        "last_login_at": user.last_login,
    }


def user_data_export(*, user: User) -> dict[str, Any]:
    """Everything we hold about the person, by section: ``profile`` and each registered one."""
    data: dict[str, Any] = {"exported_at": timezone.now(), "profile": _profile(user)}
    for section in privacy_sections():
        if section.export is not None:
            data[section.name] = section.export(user)
    return data


def user_open_duties(*, user: User) -> list[str]:
    """Why the account cannot be erased now (empty: it can)."""
    duties = ["An ops account is closed by an administrator."] if user.is_staff or user.is_superuser else []
    for section in privacy_sections():
        if section.open_duties is not None:
            duties.extend(section.open_duties(user))
    return duties


@transaction.atomic
def user_erase(*, user_id: int, now: datetime | None = None) -> User:
    """Erase a person's account: refused (409 ``account_deletion_refused``, nothing changed)
    while money or duty is open; otherwise every section erases its part, the personal
    fields of the user row are blanked or pseudonymised, every token is revoked and the
    account can no longer log in (the same WeChat account logging in later is a new user).
    Erasing an erased account is a no-op."""
    now = now or timezone.now()
    # FOR UPDATE, not NO KEY: inserting a row that references the user (an order, a
    # membership, a staff row) takes FOR KEY SHARE on it, so none can appear until this
    # commits, and the duties checked below stay true for the erasure.
    user = User.objects.select_for_update().get(pk=user_id)
    if user.erased_at is not None:
        return user
    duties = user_open_duties(user=user)
    if duties:
        raise AccountDeletionRefused(
            "Your account cannot be deleted yet: " + " ".join(duties), user_id=user.pk, duties=duties
        )
    for section in privacy_sections():
        if section.erase is not None:
            section.erase(user)
    _erase_notifications(user)
    user.username = f"erased-{user.pk}"
    user.nickname = ERASED_NICKNAME
    user.avatar_url = ""
    user.phone = ""
    user.openid = None
    user.unionid = None
    user.session_key = ""
    user.first_name = user.last_name = user.email = ""
    user.set_unusable_password()
    user.is_active = False
    user.erased_at = now
    user.save()
    AuthToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    return user


def _erase_notifications(user: User) -> None:
    """In-app messages and subscribe messages are the person's (they quote orders and
    names), and so are their subscriptions; webhooks stop."""
    from shop.notifications.models import Notification, SubscribeGrant, SubscribeMessage, WebhookEndpoint

    Notification.objects.filter(recipient=user).delete()
    SubscribeMessage.objects.filter(recipient=user).delete()
    SubscribeGrant.objects.filter(user=user).delete()
    WebhookEndpoint.objects.filter(owner=user, is_active=True).update(
        is_active=False, updated_at=timezone.now()
    )

"""Signing a person in on a website (the merchant console) with WeChat: the adapter choice.

Two adapters, chosen by ``settings.WECHAT_WEB_LOGIN`` like the other WeChat seams:

- ``"wechat"`` (``accounts.wechat_web.WechatWebLogin``): WeChat's website login, a QR code
  scanned with the WeChat app;
- ``"sandbox"`` (``SandboxWebLogin`` below): a form taking a sandbox code
  ``sandbox:<unionid>`` (1–128 of ``A-Z a-z 0-9 _ . -``), accepted only while
  ``settings.SANDBOX`` is on. The demo's staff have unionids (demo/seed.py), so the demo
  and the browser tests sign in as them.

Either way the console gets a ``WebIdentity`` and finds the person by ``unionid``
(``user_for_web_identity``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings

from .errors import AccountFrozen, LoginFailed, WebLoginNoAccount
from .models import User

SANDBOX_WEB_CODE = re.compile(r"^sandbox:([A-Za-z0-9_.-]{1,128})$")


@dataclass(frozen=True, slots=True)
class WebIdentity:
    unionid: str
    openid: str  # the website app's openid (not the mini-program's): kept for logs only


class SandboxWebLogin:
    """No WeChat: the sign-in page shows a form; its code names the unionid to sign in as."""

    name = "sandbox"
    shows_qr_frame = False

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        """Where a real adapter would send the browser; the sandbox's form posts to the
        callback itself, so this is the callback with the state (the form adds the code)."""
        return f"{redirect_uri}?{urlencode({'state': state})}"

    def exchange(self, code: str) -> WebIdentity:
        if not settings.SANDBOX:
            raise LoginFailed("Sandbox sign-in codes are not accepted here.")
        match = SANDBOX_WEB_CODE.match(code or "")
        if match is None:
            raise LoginFailed("A sandbox sign-in code reads sandbox:<unionid>.")
        unionid = match.group(1)
        return WebIdentity(unionid=unionid, openid=f"sandbox-web-{unionid}")


def web_login_adapter():
    """The adapter ``settings.WECHAT_WEB_LOGIN`` names (``wechat`` or ``sandbox``)."""
    if settings.WECHAT_WEB_LOGIN == "sandbox":
        return SandboxWebLogin()
    if settings.WECHAT_WEB_LOGIN == "wechat":
        from .wechat_web import WechatWebLogin

        return WechatWebLogin()
    raise ValueError(f"WECHAT_WEB_LOGIN must be wechat or sandbox, not {settings.WECHAT_WEB_LOGIN!r}")


def user_for_web_identity(identity: WebIdentity) -> User:
    """The account a website sign-in names, by ``unionid``: nobody (or two accounts, which is
    not guessed between) is ``WebLoginNoAccount``; a frozen or inactive one ``AccountFrozen``.
    No account is created here: people join by the mini-program (and staff by invitation)."""
    users = list(User.objects.filter(unionid=identity.unionid).order_by("pk")[:2])
    if len(users) != 1:
        raise WebLoginNoAccount()
    user = users[0]
    if user.is_frozen or not user.is_active:
        raise AccountFrozen()
    return user

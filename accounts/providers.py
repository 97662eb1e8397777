"""Login code exchange (``wx.login`` code → openid). Pluggable; WeChat's servers are outside our walls."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from .errors import LoginFailed

SANDBOX_CODE = re.compile(r"^sandbox:([A-Za-z0-9_.-]{1,100})$")


@dataclass(frozen=True, slots=True)
class WechatSession:
    openid: str
    unionid: str | None
    session_key: str


def exchange_code(code: str) -> WechatSession:
    """Sandbox codes ``sandbox:<openid>`` while ``SANDBOX`` is on; otherwise WeChat's code2Session."""
    match = SANDBOX_CODE.match(code)
    if match:
        if not settings.SANDBOX:
            raise LoginFailed("Sandbox login codes are not accepted here.")
        openid = match.group(1)
        # A fixed, per-user key so sandbox share tickets can be encrypted and decrypted like real ones.
        return WechatSession(openid=openid, unionid=None, session_key=sandbox_session_key(openid))
    from .wechat import code2session

    return code2session(code)


def sandbox_session_key(openid: str) -> str:
    import base64
    import hashlib

    digest = hashlib.sha256(f"sandbox-session:{openid}".encode()).digest()[:16]
    return base64.b64encode(digest).decode()

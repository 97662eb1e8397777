"""WeChat's website login (网站应用微信登录) for the merchant console. WeChat is outside our walls.

The flow (developers.weixin.qq.com, 网站应用微信登录开发指南):

1. The browser shows WeChat's QR page, ``https://open.weixin.qq.com/connect/qrconnect?appid=..
   &redirect_uri=..&response_type=code&scope=snsapi_login&state=..#wechat_redirect`` (here
   embedded as an iframe, ``login_type=jssdk``, which is what WeChat's ``wxLogin.js`` builds).
2. The person scans it with WeChat and agrees; WeChat sends the browser to ``redirect_uri``
   with ``?code=..&state=..`` (the state echoed back unchanged).
3. The server exchanges the code: ``GET https://api.weixin.qq.com/sns/oauth2/access_token
   ?appid&secret&code&grant_type=authorization_code`` answers ``{access_token, expires_in,
   refresh_token, openid, scope, unionid}``, or ``{errcode, errmsg}`` (40029 invalid code,
   40163 code already used, 41008 missing code, -1 busy).

The website app has its own appid (``WECHAT_WEB_APPID``), so its openid differs from the
mini-program's: people are matched by ``unionid``, the same across the apps of one Open
Platform account. The access token is not kept: the console needs only who signed in.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings

from .errors import LoginFailed
from .web_login import WebIdentity
from .wechat import wechat_code_exchange

logger = logging.getLogger("accounts.wechat_web")

QRCONNECT_URL = "https://open.weixin.qq.com/connect/qrconnect"
ACCESS_TOKEN_URL = "https://api.weixin.qq.com/sns/oauth2/access_token"  # noqa: S105 (a URL)
TIMEOUT_S = 5
WECHAT_BUSY = -1


class WechatWebLogin:
    """The real adapter: WeChat's QR page, then the code exchanged at WeChat."""

    name = "wechat"
    shows_qr_frame = True

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        """WeChat's QR page for an iframe (``login_type=jssdk``; ``self_redirect=false``
        sends the whole page, not the frame, to ``redirect_uri`` once the person agrees)."""
        query = urlencode(
            {
                "appid": settings.WECHAT_WEB_APPID,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "snsapi_login",
                "state": state,
                "login_type": "jssdk",
                "self_redirect": "false",
            }
        )
        return f"{QRCONNECT_URL}?{query}#wechat_redirect"

    def exchange(self, code: str) -> WebIdentity:
        """WeChat's answer for a code: who scanned. A refused code is ``LoginFailed`` (the
        person scans again); WeChat not answering is ``WechatUnavailable``."""
        params = {
            "appid": settings.WECHAT_WEB_APPID,
            "secret": settings.WECHAT_WEB_APP_SECRET,
            "code": code,
            "grant_type": "authorization_code",
        }
        data = wechat_code_exchange(ACCESS_TOKEN_URL, params, what="sign-in")
        openid, unionid = data.get("openid"), data.get("unionid")
        if not (isinstance(openid, str) and openid):
            raise LoginFailed("WeChat answered the sign-in check without an openid.")
        if not (isinstance(unionid, str) and unionid):
            # No unionid: the website app is not bound to the Open Platform account the
            # mini-program is on, so nobody can be matched. A setup fault, said plainly.
            logger.error(
                "website login answered without a unionid: bind the website app to the Open Platform"
            )
            raise LoginFailed("WeChat did not say who you are across our apps (no unionid).")
        return WebIdentity(unionid=unionid, openid=openid)

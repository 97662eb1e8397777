"""The mini-program's access token (小程序 ``access_token``): one per appid, shared by every
process through the Django cache, for every call of the mini-program's server API —
shipping uploads (``shop.payments.gateways.mp_shipping``), store codes
(``groupstore.wxacode``) and subscribe messages (``shop.notifications.wechat_subscribe``).

It comes from ``POST /cgi-bin/stable_token``: fetching one never invalidates the copy
another process holds (``/cgi-bin/token`` would). It is kept until ``TOKEN_MARGIN_S`` before
WeChat's ``expires_in``; a call answered with one of ``TOKEN_EXPIRED`` drops it
(``mp_access_token_drop``) and the caller tries once more with a fresh one.

Each caller brings its own ``post`` (its HTTP client and its errors); a token answer without
a token is ``NoAccessToken``, which the caller turns into its own error.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache

TOKEN_PATH = "/cgi-bin/stable_token"  # noqa: S105 - a URL path, not a secret
TOKEN_EXPIRED = frozenset({40001, 40014, 42001})  # access_token invalid / malformed / expired
TOKEN_MARGIN_S = 300  # drop the cached token this long before WeChat does
DEFAULT_EXPIRES_S = 7200


class NoAccessToken(Exception):
    """WeChat's token answer held no token."""


def token_cache_key(appid: str) -> str:
    return f"wechat:mp-access-token:{appid}"


def token_expired(errcode) -> bool:
    """Whether a WeChat ``errcode`` (an int, or its text as some adapters keep it) says the
    access token is no longer good."""
    try:
        return int(errcode) in TOKEN_EXPIRED
    except (TypeError, ValueError):
        return False


def mp_access_token(*, appid: str, app_secret: str, post: Callable[[str, dict], dict]) -> str:
    """The cached token, or a fresh one fetched with ``post(path, body)`` and cached."""
    key = token_cache_key(appid)
    token = cache.get(key)
    if token:
        return token
    data = post(TOKEN_PATH, {"grant_type": "client_credential", "appid": appid, "secret": app_secret})
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise NoAccessToken("WeChat stable_token answered without an access_token.")
    expires_in = data.get("expires_in") if isinstance(data.get("expires_in"), int) else DEFAULT_EXPIRES_S
    cache.set(key, token, timeout=max(expires_in - TOKEN_MARGIN_S, 60))
    return token


def mp_access_token_drop(appid: str) -> None:
    cache.delete(token_cache_key(appid))

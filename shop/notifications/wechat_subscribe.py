"""WeChat subscribe messages (订阅消息): the adapter, with two faces chosen by settings.

``wechat``: ``POST https://api.weixin.qq.com/cgi-bin/message/subscribe/send?access_token=…``
with ``{touser, template_id, page, data: {key: {value}}, miniprogram_state, lang}``. WeChat
answers HTTP 200 with JSON: ``{"errcode": 0, "errmsg": "ok", "msgid": …}`` when sent, else an
``errcode``:

- ``43101`` the user refused it / has no subscription left for the template →
  ``SubscriptionMissing`` (the caller sets the user's count to 0);
- ``40001`` / ``42001`` / ``40014`` the access token is invalid, expired, malformed → the
  cached token is dropped and the message sent once more with a fresh one (once only);
- ``-1`` system busy, ``45009`` over the quota, HTTP 5xx, network errors →
  ``SubscribeTransient`` (the task retries later, with backoff);
- anything else (``40003`` bad openid, ``40037`` bad template id, ``41030`` bad page,
  ``47003`` data not matching the template …) → ``SubscribeRejected``: sending again would
  not help.

The access token is the mini-program's one (``shop/wechat_token.py``), shared with the
shipping uploads and the store codes: one mini-program, one token.

``sandbox``: records what would have been sent (a ``SandboxSubscribeSend`` row per call) and
answers a made-up ``msgid``.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

import requests
import urllib3
from django.conf import settings

from shop.wechat_token import NoAccessToken, mp_access_token, mp_access_token_drop, token_expired

logger = logging.getLogger("shop.notifications.subscribe")

MP_API = "https://api.weixin.qq.com"
SEND_PATH = "/cgi-bin/message/subscribe/send"
NO_SUBSCRIPTION = 43101
TRANSIENT = {-1, 45009}  # system busy; over the call quota
HTTP_TIMEOUT_S = 10


class SubscribeSendError(Exception):
    """The message was not sent. ``errcode`` is WeChat's (None for network/HTTP trouble)."""

    def __init__(self, message: str, *, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class SubscriptionMissing(SubscribeSendError):
    """43101: the user has no subscription left for this template (or refused it)."""


class SubscribeRejected(SubscribeSendError):
    """WeChat refused this message for good (bad openid, template, page, data …)."""


class SubscribeTransient(SubscribeSendError):
    """Network trouble, HTTP 5xx, WeChat busy: try again later."""


class SubscribeOutcomeUnknown(SubscribeSendError):
    """The send request may have reached WeChat (a read timeout, a dropped connection, an
    HTTP error or an unreadable answer after the request went out): sending it again could
    deliver it twice and spend a second subscription at WeChat, so it is not retried."""


class SubscribeNotConfigured(SubscribeSendError):
    """No app id / secret (or no such sender): nothing can be sent until ops configure it;
    a message meanwhile is retried like a network failure, then given up."""


class SubscribeSender(Protocol):
    name: str

    def send(self, *, message_id: int, openid: str, template_id: str, page: str, data: dict) -> str:
        """Send one message; its WeChat ``msgid``. Raises a ``SubscribeSendError`` subclass."""


class SandboxSubscribeSender:
    """Records what would have been sent, one row per call."""

    name = "sandbox"

    def send(self, *, message_id: int, openid: str, template_id: str, page: str, data: dict) -> str:
        from .models import SandboxSubscribeSend

        record = SandboxSubscribeSend.objects.create(
            message_id=message_id, touser=openid, template_id=template_id, page=page, data=data
        )
        return f"sandbox-{record.pk}"


class WechatSubscribeSender:
    """``subscribeMessage.send`` through the mini-program's cached access token."""

    name = "wechat"

    def __init__(
        self, *, appid: str, app_secret: str, miniprogram_state: str = "formal", lang: str = "zh_CN"
    ):
        if not appid or not app_secret:
            raise SubscribeNotConfigured(
                "WECHAT_APPID and WECHAT_APP_SECRET are needed for subscribe messages"
            )
        self.appid = appid
        self._app_secret = app_secret
        self.miniprogram_state = miniprogram_state
        self.lang = lang

    def send(self, *, message_id: int, openid: str, template_id: str, page: str, data: dict) -> str:
        body = {
            "touser": openid,
            "template_id": template_id,
            "page": page,
            "data": data,
            "miniprogram_state": self.miniprogram_state,
            "lang": self.lang,
        }
        try:
            answer = self._post(SEND_PATH, body, access_token=self.access_token())
        except _TokenExpired:
            mp_access_token_drop(self.appid)  # stale: once more with a fresh one
            try:
                answer = self._post(SEND_PATH, body, access_token=self.access_token())
            except _TokenExpired as exc:
                raise SubscribeTransient(str(exc), errcode=exc.errcode) from exc
        return str(answer.get("msgid", ""))

    def access_token(self) -> str:
        """The mini-program's access token, shared through the cache by every process."""
        try:
            return mp_access_token(appid=self.appid, app_secret=self._app_secret, post=self._post)
        except SubscribeRejected as exc:  # a wrong secret is not fixed by waiting, but ops can fix it
            raise SubscribeTransient(f"no access token: {exc}", errcode=exc.errcode) from exc
        except NoAccessToken as exc:
            raise SubscribeTransient(str(exc)) from exc

    def _post(self, path: str, payload: dict, *, access_token: str | None = None) -> dict:
        params = {"access_token": access_token} if access_token else None
        # A send whose fate is unclear is not tried again (SubscribeOutcomeUnknown); a token
        # fetch delivers nothing to anyone and may be.
        unclear = SubscribeOutcomeUnknown if path == SEND_PATH else SubscribeTransient
        try:
            response = requests.post(
                MP_API + path,
                params=params,
                data=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                timeout=HTTP_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            kind = SubscribeTransient if _never_sent(exc) else unclear
            raise kind(f"WeChat {path}: {type(exc).__name__}.") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            raise unclear(f"WeChat {path}: HTTP {response.status_code}.")
        errcode = data.get("errcode", 0)
        if errcode == 0:
            return data
        message = f"WeChat {path}: errcode {errcode} {data.get('errmsg', '')}".strip()
        if token_expired(errcode):
            raise _TokenExpired(message, errcode=errcode)
        if errcode == NO_SUBSCRIPTION:
            raise SubscriptionMissing(message, errcode=errcode)
        if errcode in TRANSIENT:
            raise SubscribeTransient(message, errcode=errcode)
        raise SubscribeRejected(message, errcode=errcode)


class _TokenExpired(SubscribeSendError):
    pass


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request surely never reached WeChat: no connection was ever made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def subscribe_sender() -> SubscribeSender:
    """The configured sender (``WECHAT_SUBSCRIBE_SENDER``); ``sandbox`` only while ``SANDBOX`` is on."""
    name = settings.WECHAT_SUBSCRIBE_SENDER
    if name == "sandbox" and settings.SANDBOX:
        return SandboxSubscribeSender()
    if name == "wechat":
        return WechatSubscribeSender(
            appid=settings.WECHAT_APPID,
            app_secret=settings.WECHAT_APP_SECRET,
            miniprogram_state=settings.WECHAT_SUBSCRIBE_MINIPROGRAM_STATE,
        )
    raise SubscribeNotConfigured(f"No subscribe message sender {name!r}.")

"""The subscribe message adapter against WeChat's recorded answers. Only WeChat's HTTP is
faked, at the transport (``requests`` and our adapter run as in production)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import requests
from django.core.cache import cache
from requests.structures import CaseInsensitiveDict

from shop.notifications.models import SandboxSubscribeSend
from shop.notifications.tests.subscribe_helpers import subscribe_message
from shop.notifications.wechat_subscribe import (
    SandboxSubscribeSender,
    SubscribeNotConfigured,
    SubscribeOutcomeUnknown,
    SubscribeRejected,
    SubscribeTransient,
    SubscriptionMissing,
    WechatSubscribeSender,
    subscribe_sender,
)
from shop.wechat_token import token_cache_key

APPID = "wx-subscribe-test"
# As WeChat answers them (HTTP 200, JSON body), from the subscribeMessage.send reference.
TOKEN_OK = {"access_token": "ACCESS-1", "expires_in": 7200}
TOKEN_OK_2 = {"access_token": "ACCESS-2", "expires_in": 7200}
SENT = {"errcode": 0, "errmsg": "ok", "msgid": 3006578125464485890}
INVALID_CREDENTIAL = {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
TOKEN_EXPIRED = {"errcode": 42001, "errmsg": "access_token expired rid: 6756f1a2-0c3d7e5b-1f2a3b4c"}
USER_REFUSED = {"errcode": 43101, "errmsg": "user refuse to accept the msg rid: 6756f1a2-0c3d7e5b"}
ARGUMENT_INVALID = {"errcode": 47003, "errmsg": "argument invalid! data.thing3.value invalid rid: 6756f1a2"}
BAD_OPENID = {"errcode": 40003, "errmsg": "invalid openid rid: 6756f1a2-0c3d7e5b-1f2a3b4c"}
BUSY = {"errcode": -1, "errmsg": "system error"}
DATA = {
    "character_string1": {"value": "1024"},
    "amount2": {"value": "53.80元"},
    "thing3": {"value": "洗衣凝珠"},
}


@dataclass
class FakeWechat:
    """Answers requests in order with JSON bodies (or raises a queued exception)."""

    sent: list[requests.PreparedRequest] = field(default_factory=list)
    replies: list[tuple[int, bytes] | Exception] = field(default_factory=list)

    def json(self, body: dict, status: int = 200) -> None:
        self.replies.append((status, json.dumps(body).encode()))

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self.sent.append(request)
        assert self.replies, f"unexpected request {request.method} {request.url}"
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body = reply
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.url = request.url
        response.request = request
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json; encoding=utf-8"})
        return response


@pytest.fixture
def fake_wechat(monkeypatch) -> FakeWechat:
    fake = FakeWechat()
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake.send)
    return fake


@pytest.fixture
def sender():
    cache.delete(token_cache_key(APPID))
    yield WechatSubscribeSender(appid=APPID, app_secret="secret", miniprogram_state="formal")
    cache.delete(token_cache_key(APPID))


def _send(sender) -> str:
    return sender.send(
        message_id=1,
        openid="o-openid-1",
        template_id="TPL-PAID",
        page="pages/order/detail?id=1024",
        data=DATA,
    )


def _body(request: requests.PreparedRequest) -> dict:
    return json.loads(request.body)


def test_the_message_is_sent_with_wechats_fields_and_its_msgid_returned(sender, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(SENT)

    assert _send(sender) == "3006578125464485890"

    token_call, send_call = fake_wechat.sent
    assert token_call.url == "https://api.weixin.qq.com/cgi-bin/stable_token"
    assert _body(token_call) == {"grant_type": "client_credential", "appid": APPID, "secret": "secret"}
    assert send_call.url == "https://api.weixin.qq.com/cgi-bin/message/subscribe/send?access_token=ACCESS-1"
    assert _body(send_call) == {
        "touser": "o-openid-1",
        "template_id": "TPL-PAID",
        "page": "pages/order/detail?id=1024",
        "data": DATA,
        "miniprogram_state": "formal",
        "lang": "zh_CN",
    }


def test_the_access_token_is_cached_for_the_next_message(sender, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(SENT)
    fake_wechat.json(SENT)

    _send(sender)
    _send(sender)

    assert [r.path_url.split("?")[0] for r in fake_wechat.sent] == [
        "/cgi-bin/stable_token",
        "/cgi-bin/message/subscribe/send",
        "/cgi-bin/message/subscribe/send",
    ]
    assert cache.get(token_cache_key(APPID)) == "ACCESS-1"


@pytest.mark.parametrize("stale", [INVALID_CREDENTIAL, TOKEN_EXPIRED], ids=["40001", "42001"])
def test_a_stale_token_is_refreshed_and_the_message_sent_once_more(sender, fake_wechat, stale):
    cache.set(token_cache_key(APPID), "ACCESS-OLD")
    fake_wechat.json(stale)
    fake_wechat.json(TOKEN_OK_2)
    fake_wechat.json(SENT)

    assert _send(sender) == "3006578125464485890"

    first, token_call, retry = fake_wechat.sent
    assert first.url.endswith("access_token=ACCESS-OLD")
    assert token_call.path_url == "/cgi-bin/stable_token"
    assert retry.url.endswith("access_token=ACCESS-2")
    assert _body(retry) == _body(first)
    assert cache.get(token_cache_key(APPID)) == "ACCESS-2"


def test_a_token_refused_twice_is_not_tried_a_third_time(sender, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(INVALID_CREDENTIAL)
    fake_wechat.json(TOKEN_OK_2)
    fake_wechat.json(INVALID_CREDENTIAL)

    with pytest.raises(SubscribeTransient) as refused:
        _send(sender)

    assert refused.value.errcode == 40001
    assert len(fake_wechat.sent) == 4  # token, send, token, send: no third send
    assert not fake_wechat.replies


def test_43101_says_the_user_has_no_subscription_and_is_not_retried(sender, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(USER_REFUSED)

    with pytest.raises(SubscriptionMissing) as missing:
        _send(sender)

    assert missing.value.errcode == 43101
    assert len(fake_wechat.sent) == 2


@pytest.mark.parametrize("answer", [ARGUMENT_INVALID, BAD_OPENID], ids=["47003", "40003"])
def test_a_message_wechat_refuses_for_good_is_rejected_with_its_errcode(sender, fake_wechat, answer):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(answer)

    with pytest.raises(SubscribeRejected) as rejected:
        _send(sender)

    assert rejected.value.errcode == answer["errcode"]


def test_busy_or_never_connected_is_transient_but_a_send_that_may_have_arrived_is_not_resent(
    sender, fake_wechat
):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(BUSY)  # WeChat says it did not take it: try again later
    fake_wechat.replies.append(requests.ConnectTimeout("no connection"))
    for _ in range(2):
        with pytest.raises(SubscribeTransient):
            _send(sender)

    # The request went out; whether WeChat delivered it is unknown: never sent again.
    fake_wechat.json({"errmsg": "bad gateway"}, status=502)
    fake_wechat.replies.append(requests.ConnectionError("connection reset"))
    fake_wechat.replies.append(requests.ReadTimeout("no answer"))
    for _ in range(3):
        with pytest.raises(SubscribeOutcomeUnknown):
            _send(sender)


def test_no_token_from_wechat_is_transient(sender, fake_wechat):
    fake_wechat.json({"errcode": 40125, "errmsg": "invalid appsecret"})

    with pytest.raises(SubscribeTransient) as failed:
        _send(sender)

    assert failed.value.errcode == 40125
    assert cache.get(token_cache_key(APPID)) is None


def test_without_an_app_secret_the_wechat_sender_is_not_configured():
    with pytest.raises(SubscribeNotConfigured):
        WechatSubscribeSender(appid=APPID, app_secret="")


def test_the_sandbox_sender_exists_only_while_the_sandbox_is_on(settings):
    settings.WECHAT_SUBSCRIBE_SENDER = "sandbox"
    assert isinstance(subscribe_sender(), SandboxSubscribeSender)
    settings.SANDBOX = False
    with pytest.raises(SubscribeNotConfigured):
        subscribe_sender()
    settings.WECHAT_SUBSCRIBE_SENDER = "wechat"
    settings.WECHAT_APPID, settings.WECHAT_APP_SECRET = APPID, "secret"
    assert isinstance(subscribe_sender(), WechatSubscribeSender)


@pytest.mark.django_db
def test_the_sandbox_records_what_would_have_been_sent_once_per_call():
    message = subscribe_message()

    msgid = SandboxSubscribeSender().send(
        message_id=message.pk, openid="o-1", template_id="TPL", page="pages/x", data=DATA
    )

    record = SandboxSubscribeSend.objects.get()
    assert msgid == f"sandbox-{record.pk}"
    assert (record.message_id, record.touser, record.template_id, record.page, record.data) == (
        message.pk,
        "o-1",
        "TPL",
        "pages/x",
        DATA,
    )

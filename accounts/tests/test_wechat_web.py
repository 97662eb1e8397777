"""WeChat's website login (the console's sign-in), against recorded WeChat answers.

Only WeChat's HTTP is faked (at ``requests``' transport, as in test_wechat.py), so the real
request building and answer reading are what is tested.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from accounts.errors import LoginFailed, WebLoginNoAccount, WechatUnavailable
from accounts.tests.factories import UserFactory
from accounts.web_login import SandboxWebLogin, WebIdentity, user_for_web_identity, web_login_adapter
from accounts.wechat_web import ACCESS_TOKEN_URL, WechatWebLogin

from .test_wechat import wechat_answers  # noqa: F401 (the fixture)

WEB_APPID = "wxweb0123456789ab"
WEB_SECRET = "website-app-secret"

# Recorded shape of a successful sns/oauth2/access_token answer (values replaced).
TOKEN_ANSWER = {
    "access_token": "ACCESS_TOKEN_86_chars_example",
    "expires_in": 7200,
    "refresh_token": "REFRESH_TOKEN_example",
    "openid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
    "scope": "snsapi_login",
    "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL-union",
}


@pytest.fixture(autouse=True)
def web_settings(settings):
    settings.WECHAT_WEB_APPID = WEB_APPID
    settings.WECHAT_WEB_APP_SECRET = WEB_SECRET
    return settings


def test_the_qr_page_url_names_our_app_the_callback_and_the_state():
    url = WechatWebLogin().authorize_url(
        state="s1", redirect_uri="https://shop.example/console/signin/callback"
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://open.weixin.qq.com/connect/qrconnect"
    assert parts.fragment == "wechat_redirect"
    assert query["appid"] == [WEB_APPID]
    assert query["redirect_uri"] == ["https://shop.example/console/signin/callback"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["snsapi_login"]
    assert query["state"] == ["s1"]


def test_a_good_code_gives_the_unionid(wechat_answers):  # noqa: F811
    fake = wechat_answers((200, json.dumps(TOKEN_ANSWER)))
    identity = WechatWebLogin().exchange("CODE-1")
    assert identity == WebIdentity(unionid=TOKEN_ANSWER["unionid"], openid=TOKEN_ANSWER["openid"])
    ((request, kwargs),) = fake.sent
    sent = urlsplit(request.url)
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == ACCESS_TOKEN_URL
    assert parse_qs(sent.query) == {
        "appid": [WEB_APPID],
        "secret": [WEB_SECRET],
        "code": ["CODE-1"],
        "grant_type": ["authorization_code"],
    }
    assert kwargs["timeout"] == 5


@pytest.mark.parametrize("errcode", [40029, 40163, 41008])
def test_a_refused_code_is_login_failed(wechat_answers, errcode):  # noqa: F811
    wechat_answers((200, json.dumps({"errcode": errcode, "errmsg": "invalid code"})))
    with pytest.raises(LoginFailed) as caught:
        WechatWebLogin().exchange("CODE-1")
    assert str(errcode) in str(caught.value)


def test_an_answer_without_unionid_is_refused(wechat_answers):  # noqa: F811
    answer = {key: value for key, value in TOKEN_ANSWER.items() if key != "unionid"}
    wechat_answers((200, json.dumps(answer)))
    with pytest.raises(LoginFailed):
        WechatWebLogin().exchange("CODE-1")


@pytest.mark.parametrize(
    "answer",
    [
        (200, json.dumps({"errcode": -1, "errmsg": "system error"})),
        (502, "<html>Bad Gateway</html>"),
        (200, "<html>not json</html>"),
        requests.ConnectionError("down"),
        requests.Timeout("slow"),
    ],
)
def test_wechat_not_answering_is_unavailable(wechat_answers, answer):  # noqa: F811
    wechat_answers(answer)
    with pytest.raises(WechatUnavailable):
        WechatWebLogin().exchange("CODE-1")


def test_the_sandbox_reads_the_unionid_from_its_code(settings):
    settings.SANDBOX = True
    assert SandboxWebLogin().exchange("sandbox:u-1").unionid == "u-1"
    for bad in ("u-1", "sandbox:", "sandbox:a b", "sandbox:" + "x" * 129):
        with pytest.raises(LoginFailed):
            SandboxWebLogin().exchange(bad)


def test_the_sandbox_refuses_every_code_when_the_sandbox_is_off(settings):
    settings.SANDBOX = False
    with pytest.raises(LoginFailed):
        SandboxWebLogin().exchange("sandbox:u-1")


def test_settings_choose_the_adapter(settings):
    settings.WECHAT_WEB_LOGIN = "wechat"
    assert isinstance(web_login_adapter(), WechatWebLogin)
    settings.WECHAT_WEB_LOGIN = "sandbox"
    assert isinstance(web_login_adapter(), SandboxWebLogin)
    settings.WECHAT_WEB_LOGIN = "other"
    with pytest.raises(ValueError, match="WECHAT_WEB_LOGIN"):
        web_login_adapter()


@pytest.mark.django_db
def test_people_are_matched_by_unionid_not_openid():
    user = UserFactory(unionid="union-7", openid="mini-program-openid")
    assert user_for_web_identity(WebIdentity(unionid="union-7", openid="website-openid")) == user
    with pytest.raises(WebLoginNoAccount):
        user_for_web_identity(WebIdentity(unionid="mini-program-openid", openid="x"))


@pytest.mark.django_db
def test_two_accounts_with_one_unionid_are_not_guessed_between():
    UserFactory(unionid="union-8")
    UserFactory(unionid="union-8")
    with pytest.raises(WebLoginNoAccount):
        user_for_web_identity(WebIdentity(unionid="union-8", openid="x"))

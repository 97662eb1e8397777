"""Signing in to the console: the state, the sandbox form, WeChat's website login, refusals."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from accounts.tests.test_wechat import wechat_answers  # noqa: F401 (the fixture)
from console import signin_state
from merchants.models import Merchant
from merchants.tests.factories import MerchantStaffFactory

pytestmark = pytest.mark.django_db

SIGNIN = reverse("console:signin")
CALLBACK = reverse("console:signin_callback")


@pytest.fixture(autouse=True)
def sandbox_login(settings):
    settings.SANDBOX = True
    settings.WECHAT_WEB_LOGIN = "sandbox"


def _english(client) -> None:
    client.cookies["console_lang"] = "en"


def _state(client, next_url: str = "/console/") -> str:
    response = client.get(SIGNIN, {"next": next_url})
    assert response.status_code == 200
    return re.search(r'name="state" value="([^"]+)"', response.content.decode()).group(1)


def _staff(unionid: str = "union-1", **kwargs):
    return MerchantStaffFactory(user__unionid=unionid, **kwargs)


def _signed_in(client) -> bool:
    return client.get("/console/").status_code == 200


def test_the_sandbox_form_signs_staff_in_and_goes_to_the_page_asked_for(client):
    staff = _staff()
    state = _state(client, next_url="/console/staff/")
    response = client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"})
    assert response.status_code == 302
    assert response["Location"] == "/console/staff/"
    assert int(client.session["_auth_user_id"]) == staff.user.pk
    assert _signed_in(client)


def test_the_sign_in_page_says_the_sandbox_code_format_in_chinese_by_default(client):
    body = client.get(SIGNIN).content.decode()
    assert "sandbox:&lt;unionid&gt;" in body
    assert 'id="sandbox-signin"' in body
    assert "沙箱登录码" in body


def test_an_unknown_unionid_is_told_clearly_in_chinese_too(client):
    response = client.get(CALLBACK, {"state": _state(client), "code": "sandbox:nobody"})
    assert response.status_code == 403
    assert "小程序" in response.content.decode()


def test_a_state_this_browser_never_asked_for_is_refused(client):
    _staff()
    _state(client)
    response = client.get(CALLBACK, {"state": "forged", "code": "sandbox:union-1"})
    assert response.status_code == 400
    assert not _signed_in(client)


def test_a_state_from_another_browser_is_refused(client, django_user_model):
    from django.test import Client

    _staff()
    state = _state(Client())  # the attacker's browser started it
    response = client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"})
    assert response.status_code == 400
    assert not _signed_in(client)


def test_a_state_is_used_once(client):
    _staff()
    state = _state(client)
    assert client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"}).status_code == 302
    client.post(reverse("console:signout"))
    assert client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"}).status_code == 400
    assert not _signed_in(client)


def test_a_failed_callback_uses_the_state_up_too(client):
    _staff()
    state = _state(client)
    assert client.get(CALLBACK, {"state": state, "code": "garbage"}).status_code == 400
    assert client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"}).status_code == 400


def test_a_state_expires(client, monkeypatch):
    _staff()
    state = _state(client)
    later = signin_state.time.time() + signin_state.STATE_TTL_S + 1
    monkeypatch.setattr(signin_state.time, "time", lambda: later)
    assert client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"}).status_code == 400


def test_a_callback_without_a_state_is_refused(client):
    _staff()
    assert client.get(CALLBACK, {"code": "sandbox:union-1"}).status_code == 400


def test_an_unknown_unionid_is_told_clearly(client):
    _english(client)
    response = client.get(CALLBACK, {"state": _state(client), "code": "sandbox:nobody"})
    assert response.status_code == 403
    assert "mini-program" in response.content.decode()


def test_someone_who_is_not_staff_is_refused(client):
    _english(client)
    UserFactory(unionid="union-2")
    response = client.get(CALLBACK, {"state": _state(client), "code": "sandbox:union-2"})
    assert response.status_code == 403
    assert "invite" in response.content.decode()
    assert not _signed_in(client)


def test_a_frozen_user_is_refused(client):
    _english(client)
    _staff(user__is_frozen=True)
    response = client.get(CALLBACK, {"state": _state(client), "code": "sandbox:union-1"})
    assert response.status_code == 403
    assert "frozen" in response.content.decode()


def test_staff_of_a_merchant_not_approved_is_refused(client):
    _staff(merchant__status=Merchant.Status.PENDING)
    response = client.get(CALLBACK, {"state": _state(client), "code": "sandbox:union-1"})
    assert response.status_code == 403


def test_the_page_to_come_back_to_stays_on_the_console(client):
    _staff()
    for outside in ("https://evil.example/", "//evil.example/console/", "/admin/"):
        state = _state(client, next_url=outside)
        response = client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"})
        assert response["Location"] == "/console/", outside
        client.post(reverse("console:signout"))


def test_sandbox_codes_are_refused_when_the_sandbox_is_off(client, settings):
    _staff()
    state = _state(client)
    settings.SANDBOX = False
    assert client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"}).status_code == 400
    assert not _signed_in(client)


def test_signing_out_needs_a_post_with_the_csrf_token():
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    staff = _staff()
    state = _state(client)
    client.get(CALLBACK, {"state": state, "code": "sandbox:union-1"})
    assert client.post(reverse("console:signout")).status_code == 403  # no token
    assert client.get(reverse("console:signout")).status_code == 405
    assert _signed_in(client)
    token = client.cookies["csrftoken"].value
    client.post(reverse("console:signout"), {"csrfmiddlewaretoken": token})
    assert not _signed_in(client)
    assert staff.user.pk


# --- the real adapter, WeChat's HTTP faked ------------------------------------------------


@pytest.fixture
def real_wechat(settings):
    settings.WECHAT_WEB_LOGIN = "wechat"
    settings.WECHAT_WEB_APPID = "wxweb0123456789ab"
    settings.WECHAT_WEB_APP_SECRET = "website-app-secret"


def _real_state(client) -> str:
    body = client.get(SIGNIN).content.decode()
    src = re.search(r'<iframe class="wechat-qr"[^>]* src="([^"]+)"', body).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(src).query)
    assert query["redirect_uri"] == ["http://testserver" + CALLBACK]
    assert query["scope"] == ["snsapi_login"]
    return query["state"][0]


def test_wechat_sign_in_shows_the_qr_page_and_signs_in_by_unionid(client, real_wechat, wechat_answers):  # noqa: F811
    staff = _staff(unionid="o6_union")
    state = _real_state(client)
    wechat_answers((200, json.dumps({"access_token": "T", "openid": "o6_web", "unionid": "o6_union"})))
    response = client.get(CALLBACK, {"state": state, "code": "061abc"})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == staff.user.pk


def test_wechat_refusing_the_code_is_a_page_not_a_500(client, real_wechat, wechat_answers):  # noqa: F811
    _staff(unionid="o6_union")
    state = _real_state(client)
    wechat_answers((200, json.dumps({"errcode": 40163, "errmsg": "code been used"})))
    response = client.get(CALLBACK, {"state": state, "code": "061abc"})
    assert response.status_code == 400
    assert not _signed_in(client)


def test_wechat_down_is_a_503_page(client, real_wechat, wechat_answers):  # noqa: F811
    import requests

    state = _real_state(client)
    wechat_answers(requests.ConnectionError("down"))
    assert client.get(CALLBACK, {"state": state, "code": "061abc"}).status_code == 503


def test_wechat_sign_in_without_an_appid_says_it_is_not_set_up(client, settings):
    settings.WECHAT_WEB_LOGIN = "wechat"
    settings.WECHAT_WEB_APPID = ""
    response = client.get(SIGNIN)
    assert response.status_code == 503
    assert "open.weixin.qq.com" not in response.content.decode()

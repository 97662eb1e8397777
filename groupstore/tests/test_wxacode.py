"""The mini-program code adapter against WeChat's recorded answers (only WeChat's HTTP is
faked, at the transport: ``requests`` and our adapter run as in production)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pytest
import requests
from django.core.cache import cache
from PIL import Image
from requests.structures import CaseInsensitiveDict

from groupstore.errors import MiniProgramCodeUnavailable
from groupstore.wxacode import SandboxMiniProgramCode, WechatMiniProgramCode, code_maker, share_page_url
from shop.payments.gateways.base import GatewayNotConfigured

APPID = "wx-poster-test"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (430, 430), (20, 20, 20)).save(out, format="JPEG")
    return out.getvalue()


CODE_JPEG = _jpeg()
TOKEN_OK = {"access_token": "ACCESS-1", "expires_in": 7200}
TOKEN_OK_2 = {"access_token": "ACCESS-2", "expires_in": 7200}
# As WeChat answers them (HTTP 200, JSON body).
INVALID_CREDENTIAL = {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
INVALID_SCENE = {"errcode": 40169, "errmsg": "invalid length for scene, or the data is not json string"}
PAGE_MISSING = {"errcode": 41030, "errmsg": "invalid page rid: 6756f1a2-0c3d7e5b-1f2a3b4c"}
RATE_LIMITED = {"errcode": 45009, "errmsg": "reach max api daily quota limit"}


@dataclass
class FakeWechat:
    """Answers requests in order: JSON bodies, or an image with its Content-Type."""

    sent: list[requests.PreparedRequest] = field(default_factory=list)
    replies: list[tuple[int, bytes, str] | Exception] = field(default_factory=list)

    def json(self, body: dict, status: int = 200) -> None:
        self.replies.append((status, json.dumps(body).encode(), "application/json; encoding=utf-8"))

    def image(self, body: bytes, kind: str = "image/jpeg") -> None:
        self.replies.append((200, body, kind))

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self.sent.append(request)
        assert self.replies, f"unexpected request {request.method} {request.url}"
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body, kind = reply
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.url = request.url
        response.request = request
        response.headers = CaseInsensitiveDict({"Content-Type": kind, "Content-Length": str(len(body))})
        return response


@pytest.fixture
def fake_wechat(monkeypatch) -> FakeWechat:
    fake = FakeWechat()
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake.send)
    return fake


@pytest.fixture
def maker():
    cache.delete(f"wechat:mp-access-token:{APPID}")
    yield WechatMiniProgramCode(appid=APPID, app_secret="secret", env_version="release")
    cache.delete(f"wechat:mp-access-token:{APPID}")


def _body(request: requests.PreparedRequest) -> dict:
    return json.loads(request.body)


def test_the_code_is_asked_with_the_scene_page_and_width_and_its_image_returned(maker, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.image(CODE_JPEG)

    image = maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=430)

    assert image == CODE_JPEG
    token_request, code_request = fake_wechat.sent
    assert token_request.url == "https://api.weixin.qq.com/cgi-bin/stable_token"
    assert _body(token_request) == {"grant_type": "client_credential", "appid": APPID, "secret": "secret"}
    assert code_request.url == "https://api.weixin.qq.com/wxa/getwxacodeunlimit?access_token=ACCESS-1"
    assert _body(code_request) == {
        "scene": "Ab12Cd34Ef",
        "page": "pages/share/index",
        "width": 430,
        "check_path": True,
        "env_version": "release",
    }


def test_the_access_token_is_cached_for_the_next_code(maker, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.image(CODE_JPEG)
    fake_wechat.image(CODE_JPEG, kind="image/png")

    maker.image(scene="first", page="pages/share/index", width=430)
    maker.image(scene="second", page="pages/share/index", width=430)

    assert [r.url.split("?")[0].rsplit("/", 1)[-1] for r in fake_wechat.sent] == [
        "stable_token",
        "getwxacodeunlimit",
        "getwxacodeunlimit",
    ]


def test_a_stale_token_40001_is_refreshed_and_the_code_asked_once_more(maker, fake_wechat):
    cache.set(f"wechat:mp-access-token:{APPID}", "STALE", 600)
    fake_wechat.json(INVALID_CREDENTIAL)
    fake_wechat.json(TOKEN_OK_2)
    fake_wechat.image(CODE_JPEG)

    assert maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=430) == CODE_JPEG

    stale, refresh, retry = fake_wechat.sent
    assert stale.url.endswith("access_token=STALE")
    assert refresh.url.endswith("/cgi-bin/stable_token")
    assert retry.url.endswith("access_token=ACCESS-2")
    assert cache.get(f"wechat:mp-access-token:{APPID}") == "ACCESS-2"


def test_a_token_refused_twice_is_not_retried_a_third_time(maker, fake_wechat):
    cache.set(f"wechat:mp-access-token:{APPID}", "STALE", 600)
    fake_wechat.json(INVALID_CREDENTIAL)
    fake_wechat.json(TOKEN_OK_2)
    fake_wechat.json(INVALID_CREDENTIAL)

    with pytest.raises(MiniProgramCodeUnavailable) as refused:
        maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=430)

    assert refused.value.wechat_code == "40001"
    assert len(fake_wechat.sent) == 3


@pytest.mark.parametrize(
    "answer", [INVALID_SCENE, PAGE_MISSING, RATE_LIMITED], ids=lambda a: str(a["errcode"])
)
def test_wechats_refusals_are_unavailable_with_their_errcode_and_not_retried(maker, fake_wechat, answer):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.json(answer)

    with pytest.raises(MiniProgramCodeUnavailable) as refused:
        maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=430)

    assert refused.value.wechat_code == str(answer["errcode"])
    assert refused.value.http_status == 503
    assert len(fake_wechat.sent) == 2


def test_an_http_error_or_an_empty_answer_is_unavailable(maker, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.replies.append((502, b"<html>Bad Gateway</html>", "text/html"))

    with pytest.raises(MiniProgramCodeUnavailable):
        maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=430)


def test_a_network_failure_is_unavailable(maker, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.replies.append(requests.ConnectTimeout("timed out"))

    with pytest.raises(MiniProgramCodeUnavailable):
        maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=430)


def test_a_scene_wechat_would_refuse_is_never_sent(maker, fake_wechat):
    with pytest.raises(ValueError, match="scene"):
        maker.image(scene="x" * 33, page="pages/share/index", width=430)
    with pytest.raises(ValueError, match="scene"):
        maker.image(scene="中文", page="pages/share/index", width=430)

    assert fake_wechat.sent == []


def test_the_width_is_kept_within_wechats_bounds(maker, fake_wechat):
    fake_wechat.json(TOKEN_OK)
    fake_wechat.image(CODE_JPEG)

    maker.image(scene="Ab12Cd34Ef", page="pages/share/index", width=100)

    assert _body(fake_wechat.sent[1])["width"] == 280


def test_without_an_app_secret_the_wechat_maker_is_not_configured():
    with pytest.raises(GatewayNotConfigured):
        WechatMiniProgramCode(appid=APPID, app_secret="")


def test_the_sandbox_draws_a_qr_code_that_reads_back_as_the_share_page():
    import cv2
    import numpy

    png = SandboxMiniProgramCode().image(scene="Ab12Cd34Ef", page="pages/share/index", width=430)

    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (430, 430))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(numpy.array(image.convert("RGB")))
    assert text == share_page_url(page="pages/share/index", scene="Ab12Cd34Ef")


def test_the_sandbox_maker_exists_only_while_the_sandbox_is_on(settings):
    settings.MINI_PROGRAM_CODE = "sandbox"
    assert code_maker().name == "sandbox"

    settings.SANDBOX = False
    with pytest.raises(GatewayNotConfigured):
        code_maker()

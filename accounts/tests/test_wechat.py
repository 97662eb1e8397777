"""code2Session against a faked transport; share tickets against real AES-128-CBC."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from accounts.errors import LoginFailed, ShareTicketInvalid, WechatUnavailable
from accounts.providers import WechatSession, exchange_code
from accounts.wechat import code2session, decrypt_share_info, encrypt_share_info

APPID = "wx0123456789abcdef"
APP_SECRET = "mini-program-secret"
OPEN_GID = "tGxYz0Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op"


@pytest.fixture(autouse=True)
def wechat_settings(settings):
    settings.WECHAT_APPID = APPID
    settings.WECHAT_APP_SECRET = APP_SECRET
    return settings


class FakeWechat:
    """Answers at the transport layer, so the real ``requests`` call is what is tested."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.sent: list[tuple[requests.PreparedRequest, dict]] = []

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self.sent.append((request, kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        status, text = self.answer
        response = requests.Response()
        response.status_code = status
        response._content = text.encode()
        response.encoding = "utf-8"
        response.headers = CaseInsensitiveDict({"Content-Type": "text/plain"})  # what WeChat labels its JSON
        response.url = request.url
        response.request = request
        return response


@pytest.fixture
def wechat_answers(monkeypatch):
    def _install(answer: object) -> FakeWechat:
        fake = FakeWechat(answer)
        # A bound method set on the class is not re-bound: it gets (request, **kwargs).
        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake.send)
        return fake

    return _install


@pytest.fixture
def session_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


# --- code2session ---------------------------------------------------------------------


def test_code2session_returns_the_session(wechat_answers):
    fake = wechat_answers(
        (
            200,
            json.dumps({"openid": "oUser1", "session_key": "tiihtNczf5v6AKRyjwEUhQ==", "unionid": "uUnion1"}),
        )
    )

    session = code2session("0a3bXc000abcde1")

    assert session == WechatSession(
        openid="oUser1", unionid="uUnion1", session_key="tiihtNczf5v6AKRyjwEUhQ=="
    )
    ((request, kwargs),) = fake.sent
    url = urlsplit(request.url)
    assert (request.method, url.scheme, url.netloc, url.path) == (
        "GET",
        "https",
        "api.weixin.qq.com",
        "/sns/jscode2session",
    )
    assert parse_qs(url.query) == {
        "appid": [APPID],
        "secret": [APP_SECRET],
        "js_code": ["0a3bXc000abcde1"],
        "grant_type": ["authorization_code"],
    }
    assert kwargs["timeout"] == 5


def test_code2session_without_unionid_has_none(wechat_answers):
    wechat_answers((200, json.dumps({"openid": "oUser1", "session_key": "k", "errcode": 0})))

    assert code2session("c").unionid is None


def test_real_codes_go_to_wechat_through_the_provider(wechat_answers):
    wechat_answers((200, json.dumps({"openid": "oUser1", "session_key": "k"})))

    assert exchange_code("0a3bXc000abcde1").openid == "oUser1"


def test_invalid_code_is_login_failed(wechat_answers):
    wechat_answers((200, json.dumps({"errcode": 40029, "errmsg": "invalid code, rid: 6650a2e1-..."})))

    with pytest.raises(LoginFailed) as caught:
        code2session("used-or-forged")

    assert "40029" in caught.value.message
    assert caught.value.code == "login_failed"


@pytest.mark.parametrize(
    "exc", [requests.ReadTimeout("slow"), requests.ConnectTimeout("slow"), requests.ConnectionError()]
)
def test_network_failure_is_wechat_unavailable(wechat_answers, exc):
    # The fault is upstream, not the code's: 503 with Retry-After, the same code may be retried.
    wechat_answers(exc)

    with pytest.raises(WechatUnavailable) as caught:
        code2session("c")

    assert (caught.value.code, caught.value.http_status) == ("service_unavailable", 503)
    assert caught.value.retry_after_s > 0


@pytest.mark.parametrize(
    "answer",
    [
        (200, "<html>502 Bad Gateway</html>"),
        (200, "[]"),
        (200, ""),
        (502, json.dumps({"openid": "oUser1", "session_key": "k"})),
        (200, json.dumps({"errcode": -1, "errmsg": "system error"})),
    ],
)
def test_wechat_not_answering_the_question_is_wechat_unavailable(wechat_answers, answer):
    wechat_answers(answer)

    with pytest.raises(WechatUnavailable):
        code2session("c")


@pytest.mark.parametrize(
    "answer",
    [
        (200, json.dumps({"session_key": "k"})),
        (200, json.dumps({"openid": "oUser1"})),
        (200, json.dumps({"errcode": 40163, "errmsg": "code been used"})),
    ],
)
def test_unexpected_answers_are_login_failed(wechat_answers, answer):
    wechat_answers(answer)

    with pytest.raises(LoginFailed):
        code2session("c")


# --- share tickets ----------------------------------------------------------------------


def test_share_info_round_trip(session_key):
    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=OPEN_GID, appid=APPID)

    assert decrypt_share_info(session_key=session_key, encrypted_data=encrypted_data, iv=iv) == OPEN_GID


def test_share_info_is_really_aes_128_cbc_with_pkcs7(session_key):
    # Decrypt independently of our code, the way WeChat's own sample does.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=OPEN_GID, appid=APPID)
    decryptor = Cipher(
        algorithms.AES(base64.b64decode(session_key)), modes.CBC(base64.b64decode(iv))
    ).decryptor()
    padded = decryptor.update(base64.b64decode(encrypted_data)) + decryptor.finalize()
    plaintext = json.loads(padded[: -padded[-1]])

    assert len(base64.b64decode(session_key)) == 16
    assert plaintext["openGId"] == OPEN_GID
    assert plaintext["watermark"]["appid"] == APPID


def test_wrong_session_key_is_refused(session_key):
    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=OPEN_GID, appid=APPID)
    other_key = base64.b64encode(secrets.token_bytes(16)).decode()

    with pytest.raises(ShareTicketInvalid) as caught:
        decrypt_share_info(session_key=other_key, encrypted_data=encrypted_data, iv=iv)

    assert caught.value.code == "share_ticket_invalid"
    assert caught.value.http_status == 400


@pytest.mark.parametrize("position", [0, 20, -17, -1])
def test_tampered_ciphertext_is_refused(session_key, position):
    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=OPEN_GID, appid=APPID)
    raw = bytearray(base64.b64decode(encrypted_data))
    raw[position] ^= 0x80
    tampered = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(ShareTicketInvalid):
        decrypt_share_info(session_key=session_key, encrypted_data=tampered, iv=iv)


def test_ticket_of_another_mini_program_is_refused(session_key):
    encrypted_data, iv = encrypt_share_info(
        session_key=session_key, open_gid=OPEN_GID, appid="wxsomebodyelse0000"
    )

    with pytest.raises(ShareTicketInvalid):
        decrypt_share_info(session_key=session_key, encrypted_data=encrypted_data, iv=iv)


def test_sandbox_tickets_are_accepted_only_in_sandbox(settings, session_key):
    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=OPEN_GID, appid="sandbox")

    settings.SANDBOX = True
    assert decrypt_share_info(session_key=session_key, encrypted_data=encrypted_data, iv=iv) == OPEN_GID

    settings.SANDBOX = False
    with pytest.raises(ShareTicketInvalid):
        decrypt_share_info(session_key=session_key, encrypted_data=encrypted_data, iv=iv)


def test_unconfigured_appid_accepts_no_real_ticket(settings, session_key):
    settings.WECHAT_APPID = ""
    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=OPEN_GID, appid="")

    with pytest.raises(ShareTicketInvalid):
        decrypt_share_info(session_key=session_key, encrypted_data=encrypted_data, iv=iv)


@pytest.mark.parametrize(
    ("key", "data", "iv"),
    [
        ("not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA=="),
        (None, "AAAA", "AAAAAAAAAAAAAAAAAAAAAA=="),  # a 16-byte key, data not whole blocks
        (None, "", "AAAAAAAAAAAAAAAAAAAAAA=="),
        (None, "A" * 24, "AAAA"),  # IV too short
        (base64.b64encode(b"k" * 32).decode(), "A" * 24, "AAAAAAAAAAAAAAAAAAAAAA=="),  # AES-256 key
    ],
)
def test_garbage_is_refused(session_key, key, data, iv):
    with pytest.raises(ShareTicketInvalid):
        decrypt_share_info(session_key=key or session_key, encrypted_data=data, iv=iv)


@pytest.mark.parametrize("open_gid", ['g"1', "", "x" * 129])
def test_implausible_group_ids_are_refused(session_key, open_gid):
    encrypted_data, iv = encrypt_share_info(session_key=session_key, open_gid=open_gid, appid=APPID)

    with pytest.raises(ShareTicketInvalid):
        decrypt_share_info(session_key=session_key, encrypted_data=encrypted_data, iv=iv)

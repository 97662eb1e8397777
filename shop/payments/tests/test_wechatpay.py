"""The WeChat Pay adapter against real cryptography; only the HTTP transport is faked.

A fake "WeChat" answers at the ``requests`` transport layer (``HTTPAdapter.send``): it sees
the exact bytes we send and signs its answers with a platform key, as WeChat does. Callbacks
are built the way WeChat builds them: AES-256-GCM resource under the APIv3 key, then
SHA256-RSA (PKCS#1 v1.5) over ``"{timestamp}\\n{nonce}\\n{body}\\n"`` with the platform key.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from base64 import b64decode, b64encode
from dataclasses import dataclass, field

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from requests.structures import CaseInsensitiveDict

from shop.errors import Unprocessable, ValidationFailed
from shop.payments.gateways.base import GatewayError, GatewayNotConfigured, InvalidCallback, PaymentResult
from shop.payments.gateways.registry import gateway_get
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.gateways.wechatpay import WechatPayGateway
from shop.payments.models import Payment

MCHID = "1900000109"
APPID = "wx0123456789abcdef"
APIV3_KEY = "a12d3924fd499edac8a5efc9b7e4f6d2"  # 32 bytes, like a real one
CERT_SERIAL_NO = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025061000000000000"
NOTIFY_URL = "https://shop.example.com/api/v1/payments/notify/wechatpay"
REFUND_NOTIFY_URL = "https://shop.example.com/api/v1/payments/refund-notify/wechatpay"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
OUT_TRADE_NO = "2407011200001a2b3c4d5e6f7a8b"
TRANSACTION_ID = "4200002345202407011234567890"

# Decrypted resources as WeChat documents them (recorded shapes, our numbers).
PAYMENT_RESOURCE = {
    "mchid": MCHID,
    "appid": APPID,
    "out_trade_no": OUT_TRADE_NO,
    "transaction_id": TRANSACTION_ID,
    "trade_type": "JSAPI",
    "trade_state": "SUCCESS",
    "trade_state_desc": "支付成功",
    "bank_type": "OTHERS",
    "attach": "",
    "success_time": "2024-07-01T12:00:05+08:00",
    "payer": {"openid": OPENID},
    "amount": {"total": 1990, "payer_total": 1990, "currency": "CNY", "payer_currency": "CNY"},
}
REFUND_RESOURCE = {
    "mchid": MCHID,
    "out_trade_no": OUT_TRADE_NO,
    "transaction_id": TRANSACTION_ID,
    "out_refund_no": "R2407020900001f3e",
    "refund_id": "50000000382019052709732678859",
    "refund_status": "SUCCESS",
    "success_time": "2024-07-02T09:00:03+08:00",
    "user_received_account": "支付用户零钱",
    "amount": {"total": 1990, "refund": 990, "payer_total": 1990, "payer_refund": 990},
}
TRANSFER_RESOURCE = {
    "out_bill_no": "W240703100000a1b2",
    "transfer_bill_no": "1330000071100999991182020050700019480001",
    "state": "SUCCESS",
    "mch_id": MCHID,
    "transfer_amount": 500,
    "openid": OPENID,
    "create_time": "2024-07-03T10:00:00+08:00",
    "update_time": "2024-07-03T10:01:00+08:00",
}


# --- keys, settings, the fake WeChat --------------------------------------------------


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def wechatpay_settings(settings, tmp_path, merchant_key, platform_key):
    private_pem = merchant_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = platform_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "apiclient_key.pem").write_bytes(private_pem)
    (tmp_path / "pub_key.pem").write_bytes(public_pem)
    settings.WECHAT_APPID = APPID
    settings.WECHAT_APP_SECRET = "mini-program-secret"
    settings.WECHATPAY = {
        "MCHID": MCHID,
        "PRIVATE_KEY_PATH": str(tmp_path / "apiclient_key.pem"),
        "CERT_SERIAL_NO": CERT_SERIAL_NO,
        "APIV3_KEY": APIV3_KEY,
        "NOTIFY_URL": NOTIFY_URL,
        "PUBLIC_KEY_PATH": str(tmp_path / "pub_key.pem"),
        "PUBLIC_KEY_ID": PUBLIC_KEY_ID,
        "REFUND_NOTIFY_URL": REFUND_NOTIFY_URL,
    }
    # The access_token cache must not reach the shared Redis, nor outlive the test
    # (locmem caches with one LOCATION share their storage).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    }
    return settings


@pytest.fixture
def gateway(wechatpay_settings) -> WechatPayGateway:
    return WechatPayGateway.from_settings()


@dataclass
class FakeWechat:
    """Answers requests in order; signs Pay answers with the platform key like WeChat."""

    platform_key: rsa.RSAPrivateKey
    sent: list[requests.PreparedRequest] = field(default_factory=list)
    replies: list[object] = field(default_factory=list)

    def reply(self, status: int = 200, body: dict | None = None, *, signer: rsa.RSAPrivateKey | None = None):
        self.replies.append((status, body, signer or self.platform_key))

    def fail(self, exc: Exception) -> None:
        self.replies.append(exc)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self.sent.append(request)
        assert self.replies, f"unexpected request {request.method} {request.url}"
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body, signer = reply
        text = json.dumps(body, ensure_ascii=False) if body is not None else ""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = signer.sign(f"{timestamp}\n{nonce}\n{text}\n".encode(), PKCS1v15(), SHA256())
        response = requests.Response()
        response.status_code = status
        response._content = text.encode()
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        response.headers = CaseInsensitiveDict(
            {
                "Request-ID": secrets.token_hex(8),
                "Wechatpay-Timestamp": timestamp,
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": b64encode(signature).decode(),
                "Wechatpay-Serial": PUBLIC_KEY_ID,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            }
        )
        if body is not None:
            response.headers["Content-Type"] = "application/json; charset=utf-8"
        return response


@pytest.fixture
def fake_wechat(monkeypatch, platform_key) -> FakeWechat:
    fake = FakeWechat(platform_key=platform_key)
    # A bound method set on the class is not re-bound: it gets (request, **kwargs).
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake.send)
    return fake


def signed_request_body(request: requests.PreparedRequest, merchant_key: rsa.RSAPrivateKey) -> dict | None:
    """Check the request's Authorization the way WeChat does; its JSON body (None when empty)."""
    scheme, _, params = request.headers["Authorization"].partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    auth = dict(re.findall(r'(\w+)="([^"]*)"', params))
    assert auth["mchid"] == MCHID
    assert auth["serial_no"] == CERT_SERIAL_NO
    assert abs(int(auth["timestamp"]) - time.time()) < 60
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    message = (
        f"{request.method}\n{request.path_url}\n{auth['timestamp']}\n{auth['nonce_str']}\n".encode()
        + body
        + b"\n"
    )
    merchant_key.public_key().verify(
        b64decode(auth["signature"]), message, PKCS1v15(), SHA256()
    )  # raises if bad
    assert request.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID
    return json.loads(body) if body else None


def notification(
    resource: dict,
    *,
    signer: rsa.RSAPrivateKey,
    event_type: str = "TRANSACTION.SUCCESS",
    apiv3_key: str = APIV3_KEY,
    timestamp: int | None = None,
    serial: str = PUBLIC_KEY_ID,
) -> tuple[dict[str, str], bytes]:
    """Headers and body exactly as WeChat sends a notification."""
    nonce, associated_data = secrets.token_hex(6), event_type.split(".")[0].lower()
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), associated_data.encode()
    )
    body = json.dumps(
        {
            "id": "EV-2018022511223320873",
            "create_time": "2024-07-01T12:00:06+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": associated_data,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": b64encode(ciphertext).decode(),
                "associated_data": associated_data,
                "nonce": nonce,
            },
        },
        ensure_ascii=False,
    ).encode()
    return signed_headers(body, signer=signer, timestamp=timestamp, serial=serial), body


def signed_headers(
    body: bytes, *, signer: rsa.RSAPrivateKey, timestamp: int | None = None, serial: str = PUBLIC_KEY_ID
) -> dict[str, str]:
    stamp, nonce = str(timestamp if timestamp is not None else int(time.time())), secrets.token_hex(16)
    signature = signer.sign(f"{stamp}\n{nonce}\n".encode() + body + b"\n", PKCS1v15(), SHA256())
    return {
        "Wechatpay-Signature": b64encode(signature).decode(),
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


# --- configuration --------------------------------------------------------------------


def test_unconfigured_gateway_is_a_clear_503(settings):
    settings.WECHATPAY = {"MCHID": "", "APIV3_KEY": ""}
    settings.WECHAT_APPID = ""

    with pytest.raises(GatewayNotConfigured) as caught:
        gateway_get("wechatpay")

    assert caught.value.code == "gateway_not_configured"
    assert caught.value.http_status == 503
    assert "PRIVATE_KEY_PATH" in caught.value.message
    assert "WECHAT_APPID" in caught.value.message


@pytest.mark.parametrize(
    ("key", "value"),
    [("APIV3_KEY", "too-short"), ("PRIVATE_KEY_PATH", "/nonexistent/key.pem"), ("PUBLIC_KEY_PATH", __file__)],
)
def test_unusable_keys_are_not_configured(wechatpay_settings, key, value):
    wechatpay_settings.WECHATPAY = {**wechatpay_settings.WECHATPAY, key: value}

    with pytest.raises(GatewayNotConfigured):
        WechatPayGateway.from_settings()


def test_registry_builds_the_wechatpay_gateway(wechatpay_settings):
    assert gateway_get("wechatpay").name == "wechatpay"


# --- payment callbacks ----------------------------------------------------------------


def test_good_payment_callback_parses_to_the_payment_result(gateway, platform_key, fake_wechat):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key)

    result = gateway.parse_payment_callback(headers=headers, body=body)

    assert result == PaymentResult(
        out_trade_no=OUT_TRADE_NO,
        transaction_id=TRANSACTION_ID,
        amount_fen=1990,
        succeeded=True,
        raw=PAYMENT_RESOURCE,
    )
    assert fake_wechat.sent == []  # verifying a callback never calls WeChat


def test_callback_headers_are_read_from_django_meta_too(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key)
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}

    assert gateway.parse_payment_callback(headers=meta, body=body).amount_fen == 1990


def test_callback_without_signature_type_header_is_read_as_rsa(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key)
    del headers["Wechatpay-Signature-Type"]

    assert gateway.parse_payment_callback(headers=headers, body=body).succeeded is True


def test_unsuccessful_trade_state_is_not_success(gateway, platform_key):
    headers, body = notification({**PAYMENT_RESOURCE, "trade_state": "PAYERROR"}, signer=platform_key)

    assert gateway.parse_payment_callback(headers=headers, body=body).succeeded is False


def test_tampered_body_is_rejected(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key)
    tampered = body.replace(b'"summary": "', b'"summary": "x')

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=tampered)


def test_callback_signed_by_another_key_is_rejected(gateway, stranger_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=stranger_key)

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


def test_callback_naming_an_unknown_key_is_rejected_without_calling_wechat(
    gateway, stranger_key, fake_wechat
):
    headers, body = notification(
        PAYMENT_RESOURCE, signer=stranger_key, serial="5157F09EFDC096DE15EBE81A47057A72"
    )

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)
    assert fake_wechat.sent == []  # no certificate download on an attacker's request


@pytest.mark.parametrize("offset_s", [-301, 301, -3600])
def test_callback_signed_more_than_five_minutes_off_is_rejected(gateway, platform_key, offset_s):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key, timestamp=int(time.time()) + offset_s)

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


def test_callback_within_the_window_is_accepted(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key, timestamp=int(time.time()) - 240)

    assert gateway.parse_payment_callback(headers=headers, body=body).transaction_id == TRANSACTION_ID


def test_resource_under_another_apiv3_key_is_rejected(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key, apiv3_key="b" * 32)

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b'{"event_type": "TRANSACTION.SUCCESS"}',
        b'{"event_type": "TRANSACTION.SUCCESS", "resource": {"algorithm": "AEAD_AES_256_GCM", "nonce": "n",'
        b' "ciphertext": "%%%"}}',
    ],
)
def test_signed_garbage_is_rejected(gateway, platform_key, body):
    headers = signed_headers(body, signer=platform_key)

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {
            "Wechatpay-Signature": "!!",
            "Wechatpay-Timestamp": "x",
            "Wechatpay-Nonce": "n",
            "Wechatpay-Serial": PUBLIC_KEY_ID,
        },
        {
            "Wechatpay-Signature": "c2ln",
            "Wechatpay-Timestamp": "1",
            "Wechatpay-Nonce": "n",
            "Wechatpay-Serial": PUBLIC_KEY_ID,
        },
    ],
)
def test_missing_or_garbage_headers_are_rejected(gateway, headers):
    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=b'{"id": "x"}')


def test_other_signature_types_are_rejected(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key)
    headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


def test_a_refund_notification_is_not_a_payment(gateway, platform_key):
    headers, body = notification(REFUND_RESOURCE, signer=platform_key, event_type="REFUND.SUCCESS")

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


@pytest.mark.parametrize(
    "resource",
    [
        {k: v for k, v in PAYMENT_RESOURCE.items() if k != "amount"},
        {**PAYMENT_RESOURCE, "amount": {"total": "1990"}},
        {**PAYMENT_RESOURCE, "amount": {"total": True}},
        {**PAYMENT_RESOURCE, "transaction_id": None},
        # issue 19 item 3: values that verify but cannot be stored (never a DataError)
        {**PAYMENT_RESOURCE, "amount": {"total": 2**63}},
        {**PAYMENT_RESOURCE, "amount": {"total": 2**31}},
        {**PAYMENT_RESOURCE, "amount": {"total": -1}},
        {**PAYMENT_RESOURCE, "amount": {"total": 1990.0}},
        {**PAYMENT_RESOURCE, "transaction_id": "4" * 65},
        {**PAYMENT_RESOURCE, "out_trade_no": "2407\x0001"},
        {**PAYMENT_RESOURCE, "attach": "\x00"},
        {**PAYMENT_RESOURCE, "attach": float("nan")},
    ],
)
def test_verified_payment_notification_of_the_wrong_shape_is_rejected(gateway, platform_key, resource):
    headers, body = notification(resource, signer=platform_key)

    with pytest.raises(InvalidCallback):
        gateway.parse_payment_callback(headers=headers, body=body)


# --- refund and transfer callbacks ----------------------------------------------------


def test_good_refund_callback_parses(gateway, platform_key):
    headers, body = notification(REFUND_RESOURCE, signer=platform_key, event_type="REFUND.SUCCESS")

    result = gateway.parse_refund_callback(headers=headers, body=body)

    assert result == {
        "out_refund_no": "R2407020900001f3e",
        "refund_id": "50000000382019052709732678859",
        "out_trade_no": OUT_TRADE_NO,
        "status": "SUCCESS",
        "refund_fen": 990,
        "raw": REFUND_RESOURCE,
    }


@pytest.mark.parametrize(
    "resource",
    [
        {**REFUND_RESOURCE, "amount": {**REFUND_RESOURCE["amount"], "refund": 2**63}},
        {**REFUND_RESOURCE, "amount": {**REFUND_RESOURCE["amount"], "refund": -990}},
        {**REFUND_RESOURCE, "amount": {**REFUND_RESOURCE["amount"], "refund": "990"}},
        {**REFUND_RESOURCE, "refund_id": "5" * 65},
        {**REFUND_RESOURCE, "out_refund_no": "R\x00"},
        {**REFUND_RESOURCE, "refund_status": 1},
    ],
)
def test_verified_refund_notification_with_unusable_fields_is_rejected(gateway, platform_key, resource):
    headers, body = notification(resource, signer=platform_key, event_type="REFUND.SUCCESS")

    with pytest.raises(InvalidCallback):
        gateway.parse_refund_callback(headers=headers, body=body)


@pytest.mark.parametrize(
    "resource",
    [
        {**TRANSFER_RESOURCE, "transfer_amount": 2**63},
        {**TRANSFER_RESOURCE, "transfer_amount": -500},
        {**TRANSFER_RESOURCE, "transfer_amount": 500.5},
        {**TRANSFER_RESOURCE, "transfer_bill_no": "1" * 65},
        {**TRANSFER_RESOURCE, "out_bill_no": "W\x00"},
        {**TRANSFER_RESOURCE, "state": ["SUCCESS"]},
        {**TRANSFER_RESOURCE, "fail_reason": {"x": 1}},
    ],
)
def test_verified_transfer_notification_with_unusable_fields_is_rejected(gateway, platform_key, resource):
    headers, body = notification(resource, signer=platform_key, event_type="MCHTRANSFER.BILL.FINISHED")

    with pytest.raises(InvalidCallback):
        gateway.parse_transfer_callback(headers=headers, body=body)


def test_a_long_transfer_fail_reason_is_cut_to_its_column(gateway, platform_key):
    resource = {**TRANSFER_RESOURCE, "state": "FAIL", "fail_reason": "原因" * 300}
    headers, body = notification(resource, signer=platform_key, event_type="MCHTRANSFER.BILL.FINISHED")

    assert len(gateway.parse_transfer_callback(headers=headers, body=body)["fail_reason"]) == 255


def test_tampered_refund_callback_is_rejected(gateway, platform_key):
    headers, body = notification(REFUND_RESOURCE, signer=platform_key, event_type="REFUND.SUCCESS")

    with pytest.raises(InvalidCallback):
        gateway.parse_refund_callback(headers=headers, body=body.replace(b"REFUND.SUCCESS", b"REFUND.CLOSED"))


def test_good_transfer_callback_parses(gateway, platform_key):
    headers, body = notification(
        TRANSFER_RESOURCE, signer=platform_key, event_type="MCHTRANSFER.BILL.FINISHED"
    )

    result = gateway.parse_transfer_callback(headers=headers, body=body)

    assert result == {
        "out_bill_no": "W240703100000a1b2",
        "transfer_bill_no": "1330000071100999991182020050700019480001",
        "state": "SUCCESS",
        "amount_fen": 500,
        "fail_reason": "",
        "raw": TRANSFER_RESOURCE,
    }


def test_a_payment_notification_is_not_a_transfer(gateway, platform_key):
    headers, body = notification(PAYMENT_RESOURCE, signer=platform_key)

    with pytest.raises(InvalidCallback):
        gateway.parse_transfer_callback(headers=headers, body=body)


# --- prepay -----------------------------------------------------------------------------


def test_prepay_sends_a_signed_jsapi_order_and_returns_signed_payment_params(
    gateway, fake_wechat, merchant_key
):
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=1990, description="团购-有机草莓 2 盒")
    fake_wechat.reply(200, {"prepay_id": "wx201410272009395522657a690389285100"})

    params = gateway.prepay(payment, openid=OPENID)

    (request,) = fake_wechat.sent
    assert request.method == "POST"
    assert request.url == "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi"
    assert signed_request_body(request, merchant_key) == {
        "notify_url": NOTIFY_URL,
        "description": "团购-有机草莓 2 盒",
        "out_trade_no": OUT_TRADE_NO,
        "amount": {"total": 1990, "currency": "CNY"},
        "payer": {"openid": OPENID},
        "appid": APPID,
        "mchid": MCHID,
    }
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == APPID
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
    assert params["signType"] == "RSA"
    assert abs(int(params["timeStamp"]) - time.time()) < 60
    assert 16 <= len(params["nonceStr"]) <= 32
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    merchant_key.public_key().verify(b64decode(params["paySign"]), message, PKCS1v15(), SHA256())


def test_prepay_needs_an_openid_and_sends_nothing(gateway, fake_wechat):
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=1990, description="x")

    with pytest.raises(ValidationFailed):
        gateway.prepay(payment, openid=None)
    assert fake_wechat.sent == []


def test_native_prepay_sends_a_signed_native_order_and_returns_its_code_url(
    gateway, fake_wechat, merchant_key
):
    """The merchant console's deposit QR code: no openid, WeChat's ``code_url`` as it comes."""
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=200_000, description="Margin deposit")
    fake_wechat.reply(200, {"code_url": "weixin://wxpay/bizpayurl?pr=abc123"})

    code_url = gateway.prepay_code_url(payment)

    (request,) = fake_wechat.sent
    assert request.url == "https://api.mch.weixin.qq.com/v3/pay/transactions/native"
    assert signed_request_body(request, merchant_key) == {
        "notify_url": NOTIFY_URL,
        "description": "Margin deposit",
        "out_trade_no": OUT_TRADE_NO,
        "amount": {"total": 200_000, "currency": "CNY"},
        "appid": APPID,
        "mchid": MCHID,
    }
    assert code_url == "weixin://wxpay/bizpayurl?pr=abc123"


def test_a_native_answer_without_a_code_url_is_a_gateway_error(gateway, fake_wechat):
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=1990, description="x")
    fake_wechat.reply(200, {})

    with pytest.raises(GatewayError):
        gateway.prepay_code_url(payment)


def test_an_answer_that_does_not_verify_is_a_gateway_error(gateway, fake_wechat, stranger_key):
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=1990, description="x")
    fake_wechat.reply(200, {"prepay_id": "wx-forged"}, signer=stranger_key)

    with pytest.raises(GatewayError) as caught:
        gateway.prepay(payment, openid=OPENID)

    assert caught.value.code == "gateway_error"
    assert caught.value.http_status == 502


@pytest.mark.parametrize("exc", [requests.ConnectTimeout("slow"), requests.ConnectionError("reset")])
def test_network_errors_are_gateway_errors(gateway, fake_wechat, exc):
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=1990, description="x")
    fake_wechat.fail(exc)

    with pytest.raises(GatewayError) as caught:
        gateway.prepay(payment, openid=OPENID)

    assert caught.value.status is None


def test_wechat_refusals_are_gateway_errors_with_wechat_code(gateway, fake_wechat):
    payment = Payment(out_trade_no=OUT_TRADE_NO, amount_fen=1990, description="x")
    fake_wechat.reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})

    with pytest.raises(GatewayError) as caught:
        gateway.prepay(payment, openid=OPENID)

    assert (caught.value.status, caught.value.wechat_code) == (500, "SYSTEM_ERROR")


# --- query and close --------------------------------------------------------------------


def test_query_of_a_paid_order_returns_the_result(gateway, fake_wechat, merchant_key):
    fake_wechat.reply(200, PAYMENT_RESOURCE)

    result = gateway.query(OUT_TRADE_NO)

    (request,) = fake_wechat.sent
    assert request.method == "GET"
    assert request.path_url == f"/v3/pay/transactions/out-trade-no/{OUT_TRADE_NO}?mchid={MCHID}"
    assert signed_request_body(request, merchant_key) is None
    assert result == PaymentResult(
        out_trade_no=OUT_TRADE_NO,
        transaction_id=TRANSACTION_ID,
        amount_fen=1990,
        succeeded=True,
        raw=PAYMENT_RESOURCE,
    )


def test_query_of_an_unpaid_order_is_none(gateway, fake_wechat):
    fake_wechat.reply(
        200,
        {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": OUT_TRADE_NO,
            "trade_state": "NOTPAY",
            "trade_state_desc": "订单未支付",
            "amount": {"total": 1990, "currency": "CNY"},
        },
    )

    assert gateway.query(OUT_TRADE_NO) is None


def test_query_of_an_order_wechat_never_saw_is_none(gateway, fake_wechat):
    fake_wechat.reply(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})

    assert gateway.query(OUT_TRADE_NO) is None


def test_query_when_wechat_is_down_is_a_gateway_error(gateway, fake_wechat):
    fake_wechat.reply(502, None)

    with pytest.raises(GatewayError):
        gateway.query(OUT_TRADE_NO)


def test_close_sends_a_signed_close(gateway, fake_wechat, merchant_key):
    fake_wechat.reply(204, None)

    assert gateway.close(OUT_TRADE_NO) is None

    (request,) = fake_wechat.sent
    assert request.method == "POST"
    assert request.path_url == f"/v3/pay/transactions/out-trade-no/{OUT_TRADE_NO}/close"
    assert signed_request_body(request, merchant_key) == {"mchid": MCHID}


def test_closing_an_order_wechat_never_saw_succeeds(gateway, fake_wechat):
    fake_wechat.reply(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})

    gateway.close(OUT_TRADE_NO)


def test_closing_a_paid_order_says_so(gateway, fake_wechat):
    fake_wechat.reply(400, {"code": "ORDERPAID", "message": "订单已支付"})

    with pytest.raises(GatewayError) as caught:
        gateway.close(OUT_TRADE_NO)

    assert caught.value.wechat_code == "ORDERPAID"


# --- refund -----------------------------------------------------------------------------


def test_refund_sends_a_signed_refund_and_returns_its_status(gateway, fake_wechat, merchant_key):
    fake_wechat.reply(
        200,
        {
            "refund_id": "50000000382019052709732678859",
            "out_refund_no": "R2407020900001f3e",
            "transaction_id": TRANSACTION_ID,
            "out_trade_no": OUT_TRADE_NO,
            "channel": "ORIGINAL",
            "status": "PROCESSING",
            "amount": {
                "total": 1990,
                "refund": 990,
                "payer_total": 1990,
                "payer_refund": 990,
                "currency": "CNY",
            },
        },
    )

    result = gateway.refund(
        out_trade_no=OUT_TRADE_NO,
        out_refund_no="R2407020900001f3e",
        refund_fen=990,
        total_fen=1990,
        reason="售后退款",
    )

    (request,) = fake_wechat.sent
    assert request.path_url == "/v3/refund/domestic/refunds"
    assert signed_request_body(request, merchant_key) == {
        "notify_url": REFUND_NOTIFY_URL,
        "out_refund_no": "R2407020900001f3e",
        "amount": {"refund": 990, "total": 1990, "currency": "CNY"},
        "out_trade_no": OUT_TRADE_NO,
        "reason": "售后退款",
    }
    assert result["status"] == "PROCESSING"
    assert result["refund_id"] == "50000000382019052709732678859"


def test_refund_refused_by_wechat_is_a_gateway_error(gateway, fake_wechat):
    fake_wechat.reply(403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足"})

    with pytest.raises(GatewayError) as caught:
        gateway.refund(out_trade_no=OUT_TRADE_NO, out_refund_no="R1", refund_fen=1, total_fen=1990, reason="")

    assert caught.value.wechat_code == "NOT_ENOUGH"


# --- transfer -----------------------------------------------------------------------------


def test_transfer_sends_a_signed_bill_and_returns_the_confirm_package(gateway, fake_wechat, merchant_key):
    fake_wechat.reply(
        200,
        {
            "out_bill_no": "W240703100000a1b2",
            "transfer_bill_no": "1330000071100999991182020050700019480001",
            "create_time": "2024-07-03T10:00:00+08:00",
            "state": "WAIT_USER_CONFIRM",
            "package_info": "ABBQO+oYAAABAAAAAAAA...",
        },
    )

    result = gateway.transfer(
        out_bill_no="W240703100000a1b2", openid=OPENID, amount_fen=500, remark="团长佣金提现"
    )

    (request,) = fake_wechat.sent
    assert request.path_url == "/v3/fund-app/mch-transfer/transfer-bills"
    assert signed_request_body(request, merchant_key) == {
        "out_bill_no": "W240703100000a1b2",
        "transfer_scene_id": "1005",
        "openid": OPENID,
        "transfer_amount": 500,
        "transfer_remark": "团长佣金提现",
        "transfer_scene_report_infos": [
            {"info_type": "岗位类型", "info_content": "团长"},
            {"info_type": "报酬说明", "info_content": "社群团购佣金与返利"},
        ],
        "appid": APPID,
        "notify_url": NOTIFY_URL,
    }
    assert result["state"] == "WAIT_USER_CONFIRM"
    assert result["package_info"] == "ABBQO+oYAAABAAAAAAAA..."
    assert result["transfer_bill_no"] == "1330000071100999991182020050700019480001"
    assert (result["mch_id"], result["app_id"]) == (MCHID, APPID)


def test_transfer_of_2000_yuan_or_more_is_refused_before_sending(gateway, fake_wechat):
    with pytest.raises(Unprocessable):
        gateway.transfer(out_bill_no="W1", openid=OPENID, amount_fen=200_000, remark="x")
    assert fake_wechat.sent == []


def test_transfer_refused_by_wechat_is_a_gateway_error(gateway, fake_wechat):
    fake_wechat.reply(403, {"code": "NO_AUTH", "message": "商户号该场景未开通"})

    with pytest.raises(GatewayError) as caught:
        gateway.transfer(out_bill_no="W1", openid=OPENID, amount_fen=100, remark="x")

    assert caught.value.wechat_code == "NO_AUTH"


# --- shipping info --------------------------------------------------------------------------


def test_upload_shipping_info_fetches_a_stable_token_once_and_posts_the_shipment(gateway, fake_wechat):
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})

    for _ in range(2):
        gateway.upload_shipping_info(
            transaction_id=TRANSACTION_ID,
            openid=OPENID,
            carrier="ZTO",
            tracking_no="73100000000001",
            item_desc="有机草莓*2",
        )

    token_request, first_upload, second_upload = fake_wechat.sent
    assert token_request.url == "https://api.weixin.qq.com/cgi-bin/stable_token"
    assert json.loads(token_request.body) == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": "mini-program-secret",
    }
    assert (
        first_upload.url
        == "https://api.weixin.qq.com/wxa/sec/order/upload_shipping_info?access_token=ACCESS-1"
    )
    assert second_upload.url == first_upload.url
    shipment = json.loads(first_upload.body)
    upload_time = shipment.pop("upload_time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", upload_time)
    assert shipment == {
        "order_key": {"order_number_type": 2, "transaction_id": TRANSACTION_ID},
        "logistics_type": 1,
        "delivery_mode": 1,
        "shipping_list": [
            {"tracking_no": "73100000000001", "express_company": "ZTO", "item_desc": "有机草莓*2"}
        ],
        "payer": {"openid": OPENID},
    }


def test_upload_shipping_info_with_an_expired_token_fails_and_forgets_the_token(gateway, fake_wechat):
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 42001, "errmsg": "access_token expired"})
    fake_wechat.reply(200, {"access_token": "ACCESS-2", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})
    ship = {
        "transaction_id": TRANSACTION_ID,
        "openid": OPENID,
        "carrier": "SF",
        "tracking_no": "SF1",
        "item_desc": "x",
    }

    with pytest.raises(GatewayError) as caught:
        gateway.upload_shipping_info(**ship)
    gateway.upload_shipping_info(**ship)  # the caller's retry

    assert caught.value.wechat_code == "42001"
    assert fake_wechat.sent[-1].url.endswith("access_token=ACCESS-2")


@pytest.mark.parametrize(
    "reply",
    [(200, {"errcode": 10060001, "errmsg": "支付单不存在"}), (503, None), requests.ReadTimeout("slow")],
)
def test_upload_shipping_info_failures_are_gateway_errors(gateway, fake_wechat, reply):
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    if isinstance(reply, Exception):
        fake_wechat.fail(reply)
    else:
        fake_wechat.reply(*reply)

    with pytest.raises(GatewayError):
        gateway.upload_shipping_info(
            transaction_id=TRANSACTION_ID, openid=OPENID, carrier="ZTO", tracking_no="1", item_desc="x"
        )


# --- the sandbox speaks the same interface ----------------------------------------------------


def test_sandbox_extra_methods_succeed_with_deterministic_ids():
    sandbox = SandboxGateway()

    assert sandbox.query(OUT_TRADE_NO) is None
    assert sandbox.close(OUT_TRADE_NO) is None
    assert (
        sandbox.upload_shipping_info(
            transaction_id="t", openid=OPENID, carrier="ZTO", tracking_no="1", item_desc="x"
        )
        is None
    )
    refund = sandbox.refund(
        out_trade_no=OUT_TRADE_NO, out_refund_no="R1", refund_fen=1, total_fen=2, reason=""
    )
    assert refund == sandbox.refund(
        out_trade_no=OUT_TRADE_NO, out_refund_no="R1", refund_fen=1, total_fen=2, reason=""
    )
    assert refund["status"] == "SUCCESS"
    transfer = sandbox.transfer(out_bill_no="W1", openid=OPENID, amount_fen=100, remark="x")
    assert transfer["state"] == "WAIT_USER_CONFIRM"
    assert transfer["package_info"] == "sandbox-package-W1"


def test_sandbox_refund_and_transfer_callbacks_round_trip_and_reject_tampering():
    sandbox = SandboxGateway()
    headers, body = sandbox.build_refund_callback(out_trade_no=OUT_TRADE_NO, out_refund_no="R1", refund_fen=5)
    assert sandbox.parse_refund_callback(headers=headers, body=body)["refund_fen"] == 5
    headers, body = sandbox.build_transfer_callback(
        out_bill_no="W1", amount_fen=100, state="FAIL", fail_reason="x"
    )
    assert sandbox.parse_transfer_callback(headers=headers, body=body)["state"] == "FAIL"

    with pytest.raises(InvalidCallback):
        sandbox.parse_transfer_callback(headers=headers, body=body.replace(b"FAIL", b"SUCCESS"))

"""What every WeChat Pay APIv3 adapter shares: key loading, calling the ``wechatpayv3`` library,
verifying and decrypting notifications, and reading WeChat's fields strictly.

The direct-merchant adapter (``wechatpay.py``) and the e-commerce platform adapter
(``ecommerce_wechatpay.py``) both use these, so a notification is verified the same way
whichever product sent it: signed with the platform public key we pinned, within 5 minutes of
our clock, resource decrypted with our APIv3 key (AES-256-GCM).
"""

from __future__ import annotations

import binascii
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, rsa_verify

from .base import GatewayError, GatewayNotConfigured, InvalidCallback
from .fields import CallbackFieldError, callback_json_object

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CALLBACK_MAX_SKEW_S = 300  # WeChat's advice: refuse notifications signed more than 5 minutes off our clock
HTTP_TIMEOUT_S = (3, 10)  # connect, read: a slow WeChat fails the call; the caller retries


def call_library(what: str, method: Callable[..., tuple[int, Any]], *args: Any, **kwargs: Any) -> dict:
    """Run one ``wechatpayv3`` call; its JSON answer as a dict, or ``GatewayError``.

    A non-2xx answer carries WeChat's ``code`` as ``wechat_code`` and its ``message`` in the text.
    """
    try:
        status, text = method(*args, **kwargs)
    except requests.RequestException as exc:
        raise GatewayError(f"WeChat Pay {what}: {type(exc).__name__}.") from exc
    except Exception as exc:
        # The library signals an answer whose signature does not verify (and bad input)
        # with a bare ``Exception``: we know nothing, so it is a gateway error. Anything
        # more specific (TypeError, ...) is a bug and goes up as it is.
        if type(exc) is not Exception:
            raise
        raise GatewayError(f"WeChat Pay {what}: {exc}") from exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if not 200 <= status < 300:
        code, message = data.get("code"), data.get("message", "")
        raise GatewayError(
            f"WeChat Pay {what}: HTTP {status} {code} {message}".strip(), status=status, wechat_code=code
        )
    return data


def verified_resource(
    headers: Mapping[str, str],
    body: bytes,
    *,
    event_prefix: str | tuple[str, ...],
    public_key_id: str,
    public_key: RSAPublicKey,
    apiv3_key: str,
) -> dict:
    """The decrypted ``resource`` of a notification signed by WeChat within the last 5 minutes.

    ``InvalidCallback`` for anything else: unknown key, bad signature, stale timestamp, another
    event type, a resource that does not decrypt with our APIv3 key, or not a JSON object.
    """
    return verified_event(
        headers,
        body,
        event_prefix=event_prefix,
        public_key_id=public_key_id,
        public_key=public_key,
        apiv3_key=apiv3_key,
    )[1]


def verified_event(
    headers: Mapping[str, str],
    body: bytes,
    *,
    event_prefix: str | tuple[str, ...],
    public_key_id: str,
    public_key: RSAPublicKey,
    apiv3_key: str,
) -> tuple[str, dict]:
    """``(event_type, resource)`` of a verified notification: see ``verified_resource``."""
    h = normalized_headers(headers)
    signature = h.get("wechatpay-signature", "")
    timestamp = h.get("wechatpay-timestamp", "")
    nonce = h.get("wechatpay-nonce", "")
    serial = h.get("wechatpay-serial", "")
    if not (signature and timestamp and nonce and serial):
        raise InvalidCallback("Missing Wechatpay-Signature/Timestamp/Nonce/Serial headers.")
    # WeChat's own SDKs read a missing Signature-Type as the RSA scheme.
    if h.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise InvalidCallback("Unsupported Wechatpay-Signature-Type.")
    if serial != public_key_id:
        raise InvalidCallback("Signed with a key we do not know (Wechatpay-Serial).")
    try:
        text = bytes(body).decode("utf-8")
        signed_at = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise InvalidCallback("Malformed notification.") from exc
    if not rsa_verify(timestamp, nonce, text, signature, public_key):
        raise InvalidCallback("Bad Wechatpay-Signature.")
    if abs(time.time() - signed_at) > CALLBACK_MAX_SKEW_S:
        raise InvalidCallback("Wechatpay-Timestamp is more than 5 minutes off.")
    prefixes = (event_prefix,) if isinstance(event_prefix, str) else event_prefix
    try:
        envelope = json.loads(text)
        if not str(envelope.get("event_type", "")).startswith(prefixes):
            raise InvalidCallback(f"Not a {'/'.join(prefixes)}* notification.")
        resource = envelope["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise InvalidCallback("Unsupported resource algorithm.")
        plaintext = aes_decrypt(
            nonce=resource["nonce"],
            ciphertext=resource["ciphertext"],
            associated_data=resource.get("associated_data") or "",
            apiv3_key=apiv3_key,
        )
        if plaintext is None:  # GCM tag mismatch: wrong APIv3 key or altered ciphertext
            raise InvalidCallback("Resource does not decrypt with our APIv3 key.")
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError, binascii.Error) as exc:
        raise InvalidCallback("Malformed notification.") from exc
    try:  # strict JSON, no NUL, storable as jsonb (fields.py: one rule for every callback)
        data = callback_json_object(plaintext)
    except CallbackFieldError as exc:
        raise InvalidCallback(f"Malformed notification resource ({exc}).") from exc
    return str(envelope["event_type"]), data


def read_key_file(path: str, key: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayNotConfigured(f"WECHATPAY['{key}'] cannot be read: {exc}") from exc


def load_public_key(pem: str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise GatewayNotConfigured("WECHATPAY['PUBLIC_KEY_PATH'] is not a PEM public key.") from exc
    if not isinstance(key, RSAPublicKey):
        raise GatewayNotConfigured("WECHATPAY['PUBLIC_KEY_PATH'] is not an RSA public key.")
    return key


def check_private_key(pem: str) -> None:
    # Checked here so a bad key is a configuration error, not the library's bare Exception.
    try:
        load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise GatewayNotConfigured(
            "WECHATPAY['PRIVATE_KEY_PATH'] is not an unencrypted PEM private key."
        ) from exc


def normalized_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, from any of ``request.headers``, ``request.META`` or a plain dict."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key.startswith("http_"):
            key = key[5:].replace("_", "-")
        out[key] = str(value)
    return out


def text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def fen(value: object) -> int:
    # bool is an int to Python, never an amount to us.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected fen as a non-negative int, got {value!r}")
    return value


def wechatpay_client(
    *,
    mchid: str,
    appid: str,
    private_key_pem: str,
    cert_serial_no: str,
    apiv3_key: str,
    notify_url: str,
    public_key_pem: str,
    public_key_id: str,
) -> WeChatPay:
    """The ``wechatpayv3`` client both adapters sign with (the platform's merchant id as
    ``mchid``), after checking the APIv3 key; ``GatewayNotConfigured`` if it is not 32 bytes."""
    if len(apiv3_key.encode()) != 32:
        raise GatewayNotConfigured("WECHATPAY['APIV3_KEY'] must be 32 bytes (AES-256).")
    # Public-key mode: the library makes no network call here (no certificate download).
    return WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=mchid,
        private_key=private_key_pem,
        cert_serial_no=cert_serial_no,
        appid=appid,
        apiv3_key=apiv3_key,
        notify_url=notify_url,
        timeout=HTTP_TIMEOUT_S,
        public_key=public_key_pem,
        public_key_id=public_key_id,
    )


def jsapi_pay_params(pay: WeChatPay, *, appid: str, prepay_answer: dict) -> dict:
    """The signed ``wx.requestPayment`` parameters for a JSAPI prepay's answer (any of the
    direct, partner or combined prepays); ``GatewayError`` when it holds no ``prepay_id``."""
    prepay_id = prepay_answer.get("prepay_id")
    if not prepay_id:
        raise GatewayError("WeChat Pay prepay answered without a prepay_id.")
    params = {
        "appId": appid,
        "timeStamp": str(int(time.time())),
        "nonceStr": secrets.token_hex(16),
        "package": f"prepay_id={prepay_id}",
        "signType": "RSA",
    }
    params["paySign"] = pay.sign(
        [params["appId"], params["timeStamp"], params["nonceStr"], params["package"]]
    )
    return params

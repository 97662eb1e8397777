"""WeChat Pay APIv3 (direct merchant, platform-public-key mode) and the mini-program shipping API.

Outgoing Pay calls go through the ``wechatpayv3`` library: it signs every request with the
merchant key (``Authorization: WECHATPAY2-SHA256-RSA2048 ...``) and verifies every 2xx answer
with WeChat's platform public key. Callbacks are verified here, not by the library, because
the library neither bounds the timestamp nor pins the key: an unknown ``Wechatpay-Serial``
would make it download certificates from WeChat on an attacker's request.

Every failure to reach WeChat, or a non-2xx answer, is a ``GatewayError`` (retryable: each
call carries our own number, which WeChat applies at most once). Every callback that does
not verify is an ``InvalidCallback``, and nothing else.
"""

from __future__ import annotations

import binascii
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, rsa_verify

from shop.api.parsers import json_loads_bounded
from shop.errors import Unprocessable, ValidationFailed

from .base import GatewayError, GatewayNotConfigured, InvalidCallback, PaymentResult

if TYPE_CHECKING:
    from shop.payments.models import Payment

REQUIRED_KEYS = (
    "MCHID",
    "PRIVATE_KEY_PATH",
    "CERT_SERIAL_NO",
    "APIV3_KEY",
    "NOTIFY_URL",
    "PUBLIC_KEY_PATH",
    "PUBLIC_KEY_ID",
)
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CALLBACK_MAX_SKEW_S = 300  # WeChat's advice: refuse notifications signed more than 5 minutes off our clock
HTTP_TIMEOUT_S = (3, 10)  # connect, read: a slow WeChat fails the call; the caller retries
MP_API = "https://api.weixin.qq.com"
MP_TOKEN_EXPIRED = {40001, 40014, 42001}  # access_token invalid / malformed / expired
MP_TOKEN_MARGIN_S = 300  # drop the cached access_token this long before WeChat does
TRANSFER_NEEDS_NAME_FEN = 200_000  # ¥2,000: from here WeChat wants the payee's encrypted real name
# Merchant transfer scene 1005 (佣金报酬) fits commissions and rebates paid out to members;
# the scene must be enabled for the merchant, so WECHATPAY["TRANSFER_SCENE_ID"] may override it.
DEFAULT_TRANSFER_SCENE_ID = "1005"
DEFAULT_TRANSFER_REPORT_INFOS = (
    {"info_type": "岗位类型", "info_content": "团长"},
    {"info_type": "报酬说明", "info_content": "社群团购佣金与返利"},
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


class WechatPayGateway:
    """One merchant, one mini-program. Build it with ``from_settings()``."""

    name = "wechatpay"

    def __init__(
        self,
        *,
        appid: str,
        mchid: str,
        private_key_pem: str,
        cert_serial_no: str,
        apiv3_key: str,
        notify_url: str,
        public_key_pem: str,
        public_key_id: str,
        app_secret: str = "",
        refund_notify_url: str = "",
        transfer_notify_url: str = "",
        transfer_scene_id: str = DEFAULT_TRANSFER_SCENE_ID,
        transfer_report_infos: tuple[dict[str, str], ...] = DEFAULT_TRANSFER_REPORT_INFOS,
    ) -> None:
        self.appid = appid
        self.mchid = mchid
        self._apiv3_key = apiv3_key
        self._app_secret = app_secret
        self._public_key_id = public_key_id
        self._public_key = _load_public_key(public_key_pem)
        _check_private_key(private_key_pem)
        self._refund_notify_url = refund_notify_url or notify_url
        self._transfer_notify_url = transfer_notify_url or notify_url
        self._transfer_scene_id = transfer_scene_id
        self._transfer_report_infos = [dict(info) for info in transfer_report_infos]
        if len(apiv3_key.encode()) != 32:
            raise GatewayNotConfigured("WECHATPAY['APIV3_KEY'] must be 32 bytes (AES-256).")
        # Public-key mode: the library makes no network call here (no certificate download).
        self._pay = WeChatPay(
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

    @classmethod
    def from_settings(cls) -> WechatPayGateway:
        """From ``settings.WECHATPAY`` and ``WECHAT_APPID``; ``GatewayNotConfigured`` if incomplete."""
        conf: dict[str, Any] = getattr(settings, "WECHATPAY", None) or {}
        appid = getattr(settings, "WECHAT_APPID", "")
        missing = [key for key in REQUIRED_KEYS if not conf.get(key)] + ([] if appid else ["WECHAT_APPID"])
        if missing:
            raise GatewayNotConfigured(f"WeChat Pay is not configured: missing {', '.join(missing)}.")
        return cls(
            appid=appid,
            mchid=conf["MCHID"],
            private_key_pem=_read(conf["PRIVATE_KEY_PATH"], "PRIVATE_KEY_PATH"),
            cert_serial_no=conf["CERT_SERIAL_NO"],
            apiv3_key=conf["APIV3_KEY"],
            notify_url=conf["NOTIFY_URL"],
            public_key_pem=_read(conf["PUBLIC_KEY_PATH"], "PUBLIC_KEY_PATH"),
            public_key_id=conf["PUBLIC_KEY_ID"],
            app_secret=getattr(settings, "WECHAT_APP_SECRET", ""),
            refund_notify_url=conf.get("REFUND_NOTIFY_URL", ""),
            transfer_notify_url=conf.get("TRANSFER_NOTIFY_URL", ""),
            transfer_scene_id=conf.get("TRANSFER_SCENE_ID") or DEFAULT_TRANSFER_SCENE_ID,
            transfer_report_infos=tuple(conf.get("TRANSFER_REPORT_INFOS") or DEFAULT_TRANSFER_REPORT_INFOS),
        )

    # --- payments -----------------------------------------------------------------

    def prepay(self, payment: Payment, *, openid: str | None) -> dict:
        """JSAPI prepay, then the signed ``wx.requestPayment`` parameters. Retrying is safe:
        WeChat answers the same ``out_trade_no`` with the same prepay_id while it is unpaid."""
        if not openid:
            raise ValidationFailed("WeChat Pay needs the payer's openid.")
        data = self._call(
            "prepay",
            self._pay.pay,
            description=payment.description,
            out_trade_no=payment.out_trade_no,
            amount={"total": payment.amount_fen, "currency": "CNY"},
            payer={"openid": openid},
        )
        prepay_id = data.get("prepay_id")
        if not prepay_id:
            raise GatewayError("WeChat Pay prepay answered without a prepay_id.")
        params = {
            "appId": self.appid,
            "timeStamp": str(int(time.time())),
            "nonceStr": secrets.token_hex(16),
            "package": f"prepay_id={prepay_id}",
            "signType": "RSA",
        }
        params["paySign"] = self._pay.sign(
            [params["appId"], params["timeStamp"], params["nonceStr"], params["package"]]
        )
        return params

    def parse_payment_callback(self, *, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """A verified ``TRANSACTION.*`` notification as a ``PaymentResult``; ``InvalidCallback`` otherwise."""
        resource = self._verified_resource(headers, body, event_prefix="TRANSACTION.")
        try:
            return PaymentResult(
                out_trade_no=_text(resource["out_trade_no"]),
                transaction_id=_text(resource["transaction_id"]),
                amount_fen=_fen(resource["amount"]["total"]),
                succeeded=resource.get("trade_state") == "SUCCESS",
                raw=resource,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCallback("Verified, but not a payment notification.") from exc

    def query(self, out_trade_no: str) -> PaymentResult | None:
        """What WeChat knows of a payment. None when nothing was paid: unknown order, or no
        transaction yet (``NOTPAY``, ``USERPAYING``, ``CLOSED``). ``raw["trade_state"]`` has the detail."""
        try:
            data = self._call("query", self._pay.query, out_trade_no=out_trade_no)
        except GatewayError as exc:
            if exc.status == 404:  # ORDER_NOT_EXIST: prepay never reached WeChat
                return None
            raise
        if not data.get("transaction_id"):
            return None
        try:
            return PaymentResult(
                out_trade_no=_text(data["out_trade_no"]),
                transaction_id=_text(data["transaction_id"]),
                amount_fen=_fen(data["amount"]["total"]),
                succeeded=data.get("trade_state") == "SUCCESS",
                raw=data,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayError("WeChat Pay query answered with an unexpected shape.") from exc

    def close(self, out_trade_no: str) -> None:
        """Make an unpaid order unpayable. Closing twice succeeds; an order WeChat never saw is as
        good as closed. ``GatewayError`` with ``wechat_code == "ORDERPAID"`` when it was paid meanwhile."""
        try:
            self._call("close", self._pay.close, out_trade_no)
        except GatewayError as exc:
            if exc.status == 404:  # ORDER_NOT_EXIST: nothing can ever be paid under this number
                return
            raise

    # --- refunds ------------------------------------------------------------------

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str
    ) -> dict:
        """Ask for a refund of ``refund_fen`` out of the order's ``total_fen``. The same
        ``out_refund_no`` is refunded at most once, so retries are safe."""
        data = self._call(
            "refund",
            self._pay.refund,
            out_refund_no=out_refund_no,
            amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
            out_trade_no=out_trade_no,
            reason=reason[:80] or None,  # WeChat's limit; shown to the payer
            notify_url=self._refund_notify_url,
        )
        return {
            "status": data.get("status", ""),
            "refund_id": data.get("refund_id", ""),
            "out_refund_no": data.get("out_refund_no", out_refund_no),
            "raw": data,
        }

    def parse_refund_callback(self, *, headers: Mapping[str, str], body: bytes) -> dict:
        """A verified ``REFUND.*`` notification (``REFUND.SUCCESS``, ``.ABNORMAL``, ``.CLOSED``)."""
        resource = self._verified_resource(headers, body, event_prefix="REFUND.")
        try:
            return {
                "out_refund_no": _text(resource["out_refund_no"]),
                "refund_id": _text(resource["refund_id"]),
                "out_trade_no": _text(resource["out_trade_no"]),
                "status": _text(resource["refund_status"]),
                "refund_fen": _fen(resource["amount"]["refund"]),
                "raw": resource,
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCallback("Verified, but not a refund notification.") from exc

    # --- payouts ------------------------------------------------------------------

    def transfer(self, *, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> dict:
        """Start a merchant transfer (商家转账) to the user's WeChat balance.

        WeChat answers ``WAIT_USER_CONFIRM`` with a ``package_info`` the mini-program passes to
        ``wx.requestMerchantTransfer`` (with ``mch_id`` and ``app_id``); the user has 24 h to
        confirm. The same ``out_bill_no`` is paid at most once, so retries are safe.
        """
        if amount_fen >= TRANSFER_NEEDS_NAME_FEN:
            raise Unprocessable("WeChat needs the payee's real name for transfers of ¥2,000 or more.")
        data = self._call(
            "transfer",
            self._pay.mch_transfer_bills,
            out_bill_no=out_bill_no,
            transfer_scene_id=self._transfer_scene_id,
            openid=openid,
            transfer_amount=amount_fen,
            transfer_remark=remark[:32],  # WeChat's limit; shown to the payee
            transfer_scene_report_infos=self._transfer_report_infos,
            notify_url=self._transfer_notify_url,
        )
        return {
            "state": data.get("state", ""),
            "package_info": data.get("package_info", ""),
            "transfer_bill_no": data.get("transfer_bill_no", ""),
            "out_bill_no": data.get("out_bill_no", out_bill_no),
            "mch_id": self.mchid,
            "app_id": self.appid,
            "raw": data,
        }

    def parse_transfer_callback(self, *, headers: Mapping[str, str], body: bytes) -> dict:
        """A verified ``MCHTRANSFER.*`` notification; ``state`` is SUCCESS, FAIL or CANCELLED."""
        resource = self._verified_resource(headers, body, event_prefix="MCHTRANSFER.")
        try:
            return {
                "out_bill_no": _text(resource["out_bill_no"]),
                "transfer_bill_no": _text(resource["transfer_bill_no"]),
                "state": _text(resource["state"]),
                "amount_fen": _fen(resource["transfer_amount"]),
                "fail_reason": str(resource.get("fail_reason", "")),
                "raw": resource,
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCallback("Verified, but not a transfer notification.") from exc

    def query_transfer(self, out_bill_no: str) -> dict | None:
        """The transfer bill as WeChat has it (查询转账单); None when WeChat has no such bill."""
        try:
            data = self._call("transfer query", self._pay.mch_transfer_bills_query, out_bill_no=out_bill_no)
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise
        return {
            "state": str(data.get("state", "")),
            "transfer_bill_no": str(data.get("transfer_bill_no", "")),
            "amount_fen": int(data.get("transfer_amount") or 0),
            "fail_reason": str(data.get("fail_reason", "")),
            "package_info": str(data.get("package_info", "")),
            "raw": data,
        }

    # --- shipping (mini-program API, not WeChat Pay) ------------------------------

    def upload_shipping_info(
        self, *, transaction_id: str, openid: str, carrier: str, tracking_no: str, item_desc: str
    ) -> None:
        """Report an express shipment of a whole order (发货信息录入). WeChat holds the money of
        mini-program goods until this is done. Uploading again for the same order is accepted by
        WeChat as a correction. ``carrier`` is WeChat's express company id (e.g. ``"ZTO"``)."""
        payload = {
            "order_key": {"order_number_type": 2, "transaction_id": transaction_id},  # 2: by transaction id
            "logistics_type": 1,  # express delivery
            "delivery_mode": 1,  # UNIFIED_DELIVERY: one parcel for the whole order
            "shipping_list": [
                {"tracking_no": tracking_no, "express_company": carrier, "item_desc": item_desc[:120]}
            ],
            "upload_time": timezone.now().astimezone(SHANGHAI).isoformat(timespec="milliseconds"),
            "payer": {"openid": openid},
        }
        token = self._mp_access_token()
        try:
            self._mp_post("/wxa/sec/order/upload_shipping_info", payload, access_token=token)
        except GatewayError as exc:
            if exc.wechat_code in {str(code) for code in MP_TOKEN_EXPIRED}:
                cache.delete(self._token_cache_key)  # the retry fetches a fresh one
            raise

    # --- plumbing -----------------------------------------------------------------

    def _call(self, what: str, method: Callable[..., tuple[int, Any]], *args: Any, **kwargs: Any) -> dict:
        """Run one library call; its answer as a dict, or ``GatewayError``."""
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
        try:
            data = json_loads_bounded(text) if text else {}
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

    def _verified_resource(self, headers: Mapping[str, str], body: bytes, *, event_prefix: str) -> dict:
        """The decrypted ``resource`` of a notification signed by WeChat within the last 5 minutes."""
        h = _normalized(headers)
        signature = h.get("wechatpay-signature", "")
        timestamp = h.get("wechatpay-timestamp", "")
        nonce = h.get("wechatpay-nonce", "")
        serial = h.get("wechatpay-serial", "")
        if not (signature and timestamp and nonce and serial):
            raise InvalidCallback("Missing Wechatpay-Signature/Timestamp/Nonce/Serial headers.")
        # WeChat's own SDKs read a missing Signature-Type as the RSA scheme.
        if h.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            raise InvalidCallback("Unsupported Wechatpay-Signature-Type.")
        if serial != self._public_key_id:
            raise InvalidCallback("Signed with a key we do not know (Wechatpay-Serial).")
        try:
            text = bytes(body).decode("utf-8")
            signed_at = int(timestamp)
        except (TypeError, ValueError) as exc:
            raise InvalidCallback("Malformed notification.") from exc
        if not rsa_verify(timestamp, nonce, text, signature, self._public_key):
            raise InvalidCallback("Bad Wechatpay-Signature.")
        if abs(time.time() - signed_at) > CALLBACK_MAX_SKEW_S:
            raise InvalidCallback("Wechatpay-Timestamp is more than 5 minutes off.")
        try:
            envelope = json_loads_bounded(text)
            if not str(envelope.get("event_type", "")).startswith(event_prefix):
                raise InvalidCallback(f"Not a {event_prefix}* notification.")
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise InvalidCallback("Unsupported resource algorithm.")
            plaintext = aes_decrypt(
                nonce=resource["nonce"],
                ciphertext=resource["ciphertext"],
                associated_data=resource.get("associated_data") or "",
                apiv3_key=self._apiv3_key,
            )
            if plaintext is None:  # GCM tag mismatch: wrong APIv3 key or altered ciphertext
                raise InvalidCallback("Resource does not decrypt with our APIv3 key.")
            data = json_loads_bounded(plaintext)
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise InvalidCallback("Malformed notification.") from exc
        if not isinstance(data, dict):
            raise InvalidCallback("Malformed notification resource.")
        return data

    @property
    def _token_cache_key(self) -> str:
        return f"wechat:mp-access-token:{self.appid}"

    def _mp_access_token(self) -> str:
        """The mini-program access_token, shared through the cache by every process.

        ``stable_token`` (not ``token``) so that fetching one never invalidates the copy another
        process still holds.
        """
        token = cache.get(self._token_cache_key)
        if token:
            return token
        if not self._app_secret:
            raise GatewayNotConfigured("WECHAT_APP_SECRET is needed to call the mini-program API.")
        data = self._mp_post(
            "/cgi-bin/stable_token",
            {"grant_type": "client_credential", "appid": self.appid, "secret": self._app_secret},
        )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise GatewayError("WeChat stable_token answered without an access_token.")
        expires_in = data.get("expires_in") if isinstance(data.get("expires_in"), int) else 7200
        cache.set(self._token_cache_key, token, timeout=max(expires_in - MP_TOKEN_MARGIN_S, 60))
        return token

    def _mp_post(self, path: str, payload: dict, *, access_token: str | None = None) -> dict:
        """POST to the mini-program API; its JSON answer, or ``GatewayError`` (errcode in ``wechat_code``)."""
        params = {"access_token": access_token} if access_token else None
        try:
            response = requests.post(
                MP_API + path,
                params=params,
                data=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                timeout=HTTP_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise GatewayError(f"WeChat {path}: {type(exc).__name__}.") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            raise GatewayError(f"WeChat {path}: HTTP {response.status_code}.", status=response.status_code)
        errcode = data.get("errcode", 0)
        if errcode != 0:
            raise GatewayError(
                f"WeChat {path}: errcode {errcode} {data.get('errmsg', '')}".strip(),
                status=response.status_code,
                wechat_code=str(errcode),
            )
        return data


def _read(path: str, key: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayNotConfigured(f"WECHATPAY['{key}'] cannot be read: {exc}") from exc


def _load_public_key(pem: str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise GatewayNotConfigured("WECHATPAY['PUBLIC_KEY_PATH'] is not a PEM public key.") from exc
    if not isinstance(key, RSAPublicKey):
        raise GatewayNotConfigured("WECHATPAY['PUBLIC_KEY_PATH'] is not an RSA public key.")
    return key


def _check_private_key(pem: str) -> None:
    # Checked here so a bad key is a configuration error, not the library's bare Exception.
    try:
        load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise GatewayNotConfigured(
            "WECHATPAY['PRIVATE_KEY_PATH'] is not an unencrypted PEM private key."
        ) from exc


def _normalized(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, from any of ``request.headers``, ``request.META`` or a plain dict."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key.startswith("http_"):
            key = key[5:].replace("_", "-")
        out[key] = str(value)
    return out


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _fen(value: object) -> int:
    # bool is an int to Python, never an amount to us.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected fen as a non-negative int, got {value!r}")
    return value

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

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings

from shop.errors import Unprocessable, ValidationFailed

from .base import GatewayError, GatewayNotConfigured, InvalidCallback, PaymentResult
from .fields import (
    GATEWAY_ID_MAX,
    OUR_NUMBER_MAX,
    STATE_MAX,
    callback_fen,
    callback_reason,
    callback_text,
)
from .mp_shipping import BY_TRANSACTION_ID, MiniProgramShipping, shipment, upload_time
from .wechat_v3 import (
    CALLBACK_MAX_SKEW_S,  # noqa: F401 - re-exported: callers and tests read it here
    SIGNATURE_TYPE,  # noqa: F401 - re-exported
    WeChatPayType,
    call_library,
    check_private_key,
    jsapi_pay_params,
    load_public_key,
    read_key_file,
    verified_resource,
    wechatpay_client,
)
from .wechat_v3 import normalized_headers as _normalized  # noqa: F401 - re-exported

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
        self._shipping = MiniProgramShipping(appid=appid, app_secret=app_secret)
        self._public_key_id = public_key_id
        self._public_key = load_public_key(public_key_pem)
        check_private_key(private_key_pem)
        self._refund_notify_url = refund_notify_url or notify_url
        self._transfer_notify_url = transfer_notify_url or notify_url
        self._transfer_scene_id = transfer_scene_id
        self._transfer_report_infos = [dict(info) for info in transfer_report_infos]
        self._pay = wechatpay_client(
            mchid=mchid,
            appid=appid,
            private_key_pem=private_key_pem,
            cert_serial_no=cert_serial_no,
            apiv3_key=apiv3_key,
            notify_url=notify_url,
            public_key_pem=public_key_pem,
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
            private_key_pem=read_key_file(conf["PRIVATE_KEY_PATH"], "PRIVATE_KEY_PATH"),
            cert_serial_no=conf["CERT_SERIAL_NO"],
            apiv3_key=conf["APIV3_KEY"],
            notify_url=conf["NOTIFY_URL"],
            public_key_pem=read_key_file(conf["PUBLIC_KEY_PATH"], "PUBLIC_KEY_PATH"),
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
        return jsapi_pay_params(self._pay, appid=self.appid, prepay_answer=data)

    def prepay_code_url(self, payment: Payment) -> str:
        """Native prepay (``/v3/pay/transactions/native``): the ``code_url`` a desktop page shows
        as a QR code. WeChat answers the same ``out_trade_no`` with the same code while unpaid."""
        data = self._call(
            "native prepay",
            self._pay.pay,
            description=payment.description,
            out_trade_no=payment.out_trade_no,
            amount={"total": payment.amount_fen, "currency": "CNY"},
            pay_type=WeChatPayType.NATIVE,
        )
        code_url = data.get("code_url")
        if not code_url:
            raise GatewayError("WeChat Pay native prepay answered without a code_url.")
        return code_url

    def parse_payment_callback(self, *, headers: Mapping[str, str], body: bytes) -> PaymentResult:
        """A verified ``TRANSACTION.*`` notification as a ``PaymentResult``; ``InvalidCallback`` otherwise."""
        resource = self._verified_resource(headers, body, event_prefix="TRANSACTION.")
        try:
            return PaymentResult(
                out_trade_no=callback_text(
                    resource["out_trade_no"], name="out_trade_no", max_length=OUR_NUMBER_MAX
                ),
                transaction_id=callback_text(
                    resource["transaction_id"], name="transaction_id", max_length=GATEWAY_ID_MAX
                ),
                amount_fen=callback_fen(resource["amount"]["total"], name="amount.total"),
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
                out_trade_no=callback_text(
                    data["out_trade_no"], name="out_trade_no", max_length=OUR_NUMBER_MAX
                ),
                transaction_id=callback_text(
                    data["transaction_id"], name="transaction_id", max_length=GATEWAY_ID_MAX
                ),
                amount_fen=callback_fen(data["amount"]["total"], name="amount.total"),
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
                "out_refund_no": callback_text(
                    resource["out_refund_no"], name="out_refund_no", max_length=GATEWAY_ID_MAX
                ),
                "refund_id": callback_text(
                    resource["refund_id"], name="refund_id", max_length=GATEWAY_ID_MAX
                ),
                "out_trade_no": callback_text(
                    resource["out_trade_no"], name="out_trade_no", max_length=OUR_NUMBER_MAX
                ),
                "status": callback_text(
                    resource["refund_status"], name="refund_status", max_length=STATE_MAX
                ),
                "refund_fen": callback_fen(resource["amount"]["refund"], name="amount.refund"),
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
                "out_bill_no": callback_text(
                    resource["out_bill_no"], name="out_bill_no", max_length=OUR_NUMBER_MAX
                ),
                "transfer_bill_no": callback_text(
                    resource["transfer_bill_no"], name="transfer_bill_no", max_length=GATEWAY_ID_MAX
                ),
                "state": callback_text(resource["state"], name="state", max_length=STATE_MAX),
                "amount_fen": callback_fen(resource["transfer_amount"], name="transfer_amount"),
                "fail_reason": callback_reason(resource.get("fail_reason")),
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
        try:
            return {
                "state": callback_text(
                    data.get("state", ""), name="state", max_length=STATE_MAX, required=False
                ),
                "transfer_bill_no": callback_text(
                    data.get("transfer_bill_no", ""),
                    name="transfer_bill_no",
                    max_length=GATEWAY_ID_MAX,
                    required=False,
                ),
                "amount_fen": callback_fen(data.get("transfer_amount") or 0, name="transfer_amount"),
                "fail_reason": callback_reason(data.get("fail_reason")),
                "package_info": callback_text(
                    data.get("package_info", ""), name="package_info", max_length=1024, required=False
                ),
                "raw": data,
            }
        except ValueError as exc:
            raise GatewayError("WeChat Pay transfer query answered with an unexpected shape.") from exc

    # --- shipping (mini-program API, not WeChat Pay) ------------------------------

    def upload_shipping_info(
        self,
        *,
        transaction_id: str,
        openid: str,
        carrier: str,
        tracking_no: str,
        item_desc: str,
        pickup: bool = False,
    ) -> None:
        """Report the shipment of a whole order (发货信息录入, ``mp_shipping``): an express parcel,
        or (``pickup``) collected by the buyer. WeChat holds the money of mini-program goods
        until this is done. Uploading again for the same order is accepted by WeChat as a
        correction. ``carrier`` is WeChat's express company id (e.g. ``"ZTO"``)."""
        self._shipping.upload(
            {
                "order_key": {"order_number_type": BY_TRANSACTION_ID, "transaction_id": transaction_id},
                **shipment(carrier=carrier, tracking_no=tracking_no, item_desc=item_desc, pickup=pickup),
                "upload_time": upload_time(SHANGHAI),
                "payer": {"openid": openid},
            }
        )

    # --- plumbing -----------------------------------------------------------------

    def _call(self, what: str, method: Callable[..., tuple[int, Any]], *args: Any, **kwargs: Any) -> dict:
        """Run one library call; its answer as a dict, or ``GatewayError``."""
        return call_library(what, method, *args, **kwargs)

    def _verified_resource(self, headers: Mapping[str, str], body: bytes, *, event_prefix: str) -> dict:
        """The decrypted ``resource`` of a notification signed by WeChat within the last 5 minutes."""
        return verified_resource(
            headers,
            body,
            event_prefix=event_prefix,
            public_key_id=self._public_key_id,
            public_key=self._public_key,
            apiv3_key=self._apiv3_key,
        )

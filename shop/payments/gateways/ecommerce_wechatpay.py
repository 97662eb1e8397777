"""WeChat Pay's e-commerce platform product (平台收付通), APIv3, platform-public-key mode.

Our merchant account is the platform (``sp_mchid`` = ``WECHATPAY["MCHID"]``, ``sp_appid`` =
``WECHAT_APPID``); each merchant is a secondary merchant (``sub_mchid``). Requests are signed
and answers verified by the ``wechatpayv3`` library's core (its ``request`` is what its own
API modules call; the e-commerce paths are not among them, so we name the paths here).
Notifications are verified by ``wechat_v3.verified_event`` exactly as the direct adapter's
are. Bills are downloaded with a signed GET of our own, streamed to a temporary file, hashed
(SHA1, as WeChat gives it), decrypted where WeChat encrypted them (secondary merchants' fund
flow: AES-256-GCM under a key WeChat encrypts with our merchant key, RSA-OAEP), gunzipped, and
only then parsed line by line: nothing is yielded from a file that does not check out.

Endpoint paths and fields follow WeChat's e-commerce documentation as mirrored by the
wechatpay.js.org / wechatpay-im reference sites (see the report of the branch that added this).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import gzip
import hashlib
import hmac
import io
import shutil
import tempfile
from base64 import b64decode
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from wechatpayv3.type import RequestType
from wechatpayv3.utils import build_authorization

from shop.errors import ValidationFailed

from .base import GatewayError, GatewayNotConfigured, InvalidCallback
from .bills import BILL_KINDS, BillLine, parse_bill
from .ecommerce import (
    MAX_SUB_ORDERS,
    PROCESSING,
    AdvanceReturnResult,
    EcommercePayment,
    EcommerceRefund,
    PaymentPart,
    ShareNotice,
    ShareReceiver,
    ShareReceiverResult,
    ShareResult,
    ShareReturnResult,
    SubOrder,
    SubsidyResult,
    SubsidyReturnResult,
)
from .ecommerce_fields import refund_notice, share_notice
from .mp_shipping import BY_OUT_TRADE_NO, BY_TRANSACTION_ID, MiniProgramShipping, shipment, upload_time
from .wechat_v3 import (
    call_library,
    check_private_key,
    fen,
    jsapi_pay_params,
    load_public_key,
    read_key_file,
    text,
    verified_event,
    wechatpay_client,
)

API_HOST = "api.mch.weixin.qq.com"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BILL_CHUNK = 64 * 1024
BILL_TIMEOUT_S = (3, 60)
GCM_TAG_BYTES = 16
REQUIRED_KEYS = (
    "MCHID",
    "PRIVATE_KEY_PATH",
    "CERT_SERIAL_NO",
    "APIV3_KEY",
    "NOTIFY_URL",
    "PUBLIC_KEY_PATH",
    "PUBLIC_KEY_ID",
)

# Paths (WeChat's, verified against the documentation mirrors named in the module docstring).
PARTNER_JSAPI = "/v3/pay/partner/transactions/jsapi"
PARTNER_BY_OUT_TRADE_NO = "/v3/pay/partner/transactions/out-trade-no/{}"
PARTNER_CLOSE = "/v3/pay/partner/transactions/out-trade-no/{}/close"
COMBINE_JSAPI = "/v3/combine-transactions/jsapi"
COMBINE_BY_OUT_TRADE_NO = "/v3/combine-transactions/out-trade-no/{}"
COMBINE_CLOSE = "/v3/combine-transactions/out-trade-no/{}/close"
SUBSIDY_CREATE = "/v3/ecommerce/subsidies/create"
SUBSIDY_RETURN = "/v3/ecommerce/subsidies/return"
SHARE_ORDERS = "/v3/ecommerce/profitsharing/orders"
SHARE_RETURNS = "/v3/ecommerce/profitsharing/returnorders"
SHARE_FINISH = "/v3/ecommerce/profitsharing/finish-order"
REFUND_APPLY = "/v3/ecommerce/refunds/apply"
REFUND_BY_OUT_REFUND_NO = "/v3/ecommerce/refunds/out-refund-no/{}"
REFUND_RETURN_ADVANCE = "/v3/ecommerce/refunds/{}/return-advance"
TRADE_BILL = "/v3/bill/tradebill"
FUNDFLOW_BILL = "/v3/bill/fundflowbill"
SUB_FUNDFLOW_BILL = "/v3/bill/sub-merchant-fundflowbill"
SHARE_BILL = "/v3/profitsharing/bills"

ADVANCE_ACCOUNT = "REFUND_SOURCE_PARTNER_ADVANCE"  # 垫付退款: the platform advances the refund
# Our notification endpoints (shop/payments/api/urls.py), by route name.
PAYMENT_ROUTE = "ecommerce-payment-notify"
REFUND_ROUTE = "ecommerce-refund-notify"
SHARE_ROUTE = "ecommerce-profit-sharing-notify"


class WechatPayEcommerceGateway:
    """The platform merchant and its secondary merchants. Build it with ``from_settings()``."""

    name = "wechatpay"

    def __init__(
        self,
        *,
        appid: str,
        sp_mchid: str,
        private_key_pem: str,
        cert_serial_no: str,
        apiv3_key: str,
        notify_url: str,
        public_key_pem: str,
        public_key_id: str,
        refund_notify_url: str = "",
        profit_share_notify_url: str = "",
        app_secret: str = "",
    ) -> None:
        self.appid = appid
        self.sp_mchid = sp_mchid
        self._shipping = MiniProgramShipping(appid=appid, app_secret=app_secret)
        self._cert_serial_no = cert_serial_no
        self._apiv3_key = apiv3_key
        self._notify_url = notify_url
        self._refund_notify_url = refund_notify_url or notify_url
        # Not sent with any request: WeChat posts 分账动账通知 to the URL configured on the
        # receiver's merchant platform; ops set it there to this (docs/payments-ecommerce.md).
        self.profit_share_notify_url = profit_share_notify_url
        self._public_key_id = public_key_id
        self._public_key = load_public_key(public_key_pem)
        check_private_key(private_key_pem)
        self._private_key = load_pem_private_key(private_key_pem.encode(), password=None)
        self._pay = wechatpay_client(
            mchid=sp_mchid,
            appid=appid,
            private_key_pem=private_key_pem,
            cert_serial_no=cert_serial_no,
            apiv3_key=apiv3_key,
            notify_url=notify_url,
            public_key_pem=public_key_pem,
            public_key_id=public_key_id,
        )

    @classmethod
    def from_settings(cls) -> WechatPayEcommerceGateway:
        """From ``settings.WECHATPAY`` (the platform's keys) and ``WECHAT_APPID``.

        The notification URLs are our own e-commerce endpoints on the host of ``NOTIFY_URL``
        (the public one WeChat reaches us at): ``payments/wechatpay/ecommerce-notify`` for
        payments, ``…/ecommerce-refund-notify`` for refunds, ``…/ecommerce-profit-sharing-notify``
        for shares. ``ECOMMERCE_NOTIFY_URL``, ``ECOMMERCE_REFUND_NOTIFY_URL`` and
        ``ECOMMERCE_PROFIT_SHARING_NOTIFY_URL`` override them. Never the direct merchant's
        endpoints: those parse with the other adapter and would apply a partner payment as a
        platform one."""
        conf: dict[str, Any] = getattr(settings, "WECHATPAY", None) or {}
        appid = getattr(settings, "WECHAT_APPID", "")
        missing = [key for key in REQUIRED_KEYS if not conf.get(key)] + ([] if appid else ["WECHAT_APPID"])
        if missing:
            raise GatewayNotConfigured(f"WeChat Pay is not configured: missing {', '.join(missing)}.")
        return cls(
            appid=appid,
            sp_mchid=conf["MCHID"],
            private_key_pem=read_key_file(conf["PRIVATE_KEY_PATH"], "PRIVATE_KEY_PATH"),
            cert_serial_no=conf["CERT_SERIAL_NO"],
            apiv3_key=conf["APIV3_KEY"],
            notify_url=conf.get("ECOMMERCE_NOTIFY_URL") or our_url(conf["NOTIFY_URL"], PAYMENT_ROUTE),
            public_key_pem=read_key_file(conf["PUBLIC_KEY_PATH"], "PUBLIC_KEY_PATH"),
            public_key_id=conf["PUBLIC_KEY_ID"],
            refund_notify_url=conf.get("ECOMMERCE_REFUND_NOTIFY_URL")
            or our_url(conf["NOTIFY_URL"], REFUND_ROUTE),
            profit_share_notify_url=conf.get("ECOMMERCE_PROFIT_SHARING_NOTIFY_URL")
            or our_url(conf["NOTIFY_URL"], SHARE_ROUTE),
            app_secret=getattr(settings, "WECHAT_APP_SECRET", ""),
        )

    # --- payments -----------------------------------------------------------------------

    def partner_prepay(
        self, *, sub_order: SubOrder, openid: str, expires_at: datetime.datetime | None = None
    ) -> dict:
        """Partner JSAPI prepay (frozen for profit sharing, subsidy declared), then the signed
        ``wx.requestPayment`` parameters. WeChat answers a repeated unpaid order with the same
        prepay_id."""
        _check_sub_order(sub_order)
        if not openid:
            raise ValidationFailed("WeChat Pay needs the payer's openid.")
        body: dict[str, Any] = {
            "sp_appid": self.appid,
            "sp_mchid": self.sp_mchid,
            "sub_mchid": sub_order.sub_mchid,
            "description": sub_order.description[:127],
            "out_trade_no": sub_order.out_trade_no,
            "notify_url": self._notify_url,
            "settle_info": _settle_info(sub_order),
            "amount": {"total": sub_order.amount_fen, "currency": "CNY"},
            "payer": {"sp_openid": openid},
        }
        if sub_order.attach:
            body["attach"] = sub_order.attach
        if expires_at is not None:
            body["time_expire"] = _rfc3339(expires_at)
        data = self._post("partner prepay", PARTNER_JSAPI, body)
        return self._pay_params(data)

    def combine_prepay(
        self,
        *,
        combine_out_trade_no: str,
        sub_orders: Sequence[SubOrder],
        openid: str,
        expires_at: datetime.datetime | None = None,
    ) -> dict:
        """Combined JSAPI prepay (合单) of 1–50 sub-orders, then ``wx.requestPayment`` parameters."""
        _check_combine(sub_orders)
        if not openid:
            raise ValidationFailed("WeChat Pay needs the payer's openid.")
        body: dict[str, Any] = {
            "combine_appid": self.appid,
            "combine_mchid": self.sp_mchid,
            "combine_out_trade_no": combine_out_trade_no,
            "sub_orders": [
                {
                    "mchid": self.sp_mchid,
                    "attach": s.attach or s.out_trade_no,  # required by WeChat for each sub-order
                    "amount": {"total_amount": s.amount_fen, "currency": "CNY"},
                    "out_trade_no": s.out_trade_no,
                    "sub_mchid": s.sub_mchid,
                    "description": s.description[:127],
                    "settle_info": _settle_info(s),
                }
                for s in sub_orders
            ],
            "combine_payer_info": {"openid": openid},
            "notify_url": self._notify_url,
        }
        if expires_at is not None:
            body["time_expire"] = _rfc3339(expires_at)
        data = self._post("combine prepay", COMBINE_JSAPI, body)
        return self._pay_params(data)

    def partner_close(self, *, sub_mchid: str, out_trade_no: str) -> None:
        try:
            self._post(
                "partner close",
                PARTNER_CLOSE.format(_seg(out_trade_no)),
                {"sp_mchid": self.sp_mchid, "sub_mchid": sub_mchid},
            )
        except GatewayError as exc:
            if exc.status == 404:  # ORDER_NOT_EXIST: nothing can be paid under this number
                return
            raise

    def combine_close(
        self, *, combine_out_trade_no: str, sub_orders: Sequence[SubOrder | PaymentPart]
    ) -> None:
        """Close the whole combined payment (WeChat wants every sub-order listed)."""
        body = {
            "combine_appid": self.appid,
            "sub_orders": [
                {"mchid": self.sp_mchid, "out_trade_no": s.out_trade_no, "sub_mchid": s.sub_mchid}
                for s in sub_orders
            ],
        }
        try:
            self._post("combine close", COMBINE_CLOSE.format(_seg(combine_out_trade_no)), body)
        except GatewayError as exc:
            if exc.status == 404:
                return
            raise

    def partner_query(self, *, sub_mchid: str, out_trade_no: str) -> EcommercePayment | None:
        path = (
            PARTNER_BY_OUT_TRADE_NO.format(_seg(out_trade_no))
            + "?"
            + urlencode({"sp_mchid": self.sp_mchid, "sub_mchid": sub_mchid})
        )
        data = self._get_or_none("partner query", path)
        if data is None:
            return None
        try:
            return _partner_payment(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GatewayError("WeChat Pay partner query answered with an unexpected shape.") from exc

    def combine_query(self, combine_out_trade_no: str) -> EcommercePayment | None:
        data = self._get_or_none("combine query", COMBINE_BY_OUT_TRADE_NO.format(_seg(combine_out_trade_no)))
        if data is None:
            return None
        try:
            return _combined_payment(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GatewayError("WeChat Pay combine query answered with an unexpected shape.") from exc

    def parse_payment_callback(self, *, headers: Mapping[str, str], body: bytes) -> EcommercePayment:
        """A verified ``TRANSACTION.*`` notification: combined (``combine_out_trade_no`` and
        ``sub_orders``) or partner (one part)."""
        _, resource = self._verified(headers, body, "TRANSACTION.")
        try:
            if "sub_orders" in resource:
                return _combined_payment(resource)
            return _partner_payment(resource)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidCallback("Verified, but not a payment notification.") from exc

    # --- subsidies ----------------------------------------------------------------------

    def subsidy_create(
        self,
        *,
        sub_mchid: str,
        transaction_id: str,
        amount_fen: int,
        description: str,
        out_subsidy_no: str | None = None,
    ) -> SubsidyResult:
        body: dict[str, Any] = {
            "sub_mchid": sub_mchid,
            "transaction_id": transaction_id,
            "amount": amount_fen,
            "description": description[:80],
        }
        if out_subsidy_no:
            body["out_subsidy_no"] = out_subsidy_no
        data = self._post("subsidy", SUBSIDY_CREATE, body)
        return SubsidyResult(
            sub_mchid=str(data.get("sub_mchid", sub_mchid)),
            transaction_id=str(data.get("transaction_id", transaction_id)),
            subsidy_id=str(data.get("subsidy_id", "")),
            amount_fen=_int(data.get("amount"), amount_fen),
            result=str(data.get("result", "")),
            raw=data,
        )

    def subsidy_return(
        self,
        *,
        sub_mchid: str,
        out_order_no: str,
        transaction_id: str,
        refund_id: str,
        amount_fen: int,
        description: str,
    ) -> SubsidyReturnResult:
        data = self._post(
            "subsidy return",
            SUBSIDY_RETURN,
            {
                "sub_mchid": sub_mchid,
                "out_order_no": out_order_no,
                "transaction_id": transaction_id,
                "refund_id": refund_id,
                "amount": amount_fen,
                "description": description[:80],
            },
        )
        return SubsidyReturnResult(
            sub_mchid=str(data.get("sub_mchid", sub_mchid)),
            out_order_no=str(data.get("out_order_no", out_order_no)),
            transaction_id=str(data.get("transaction_id", transaction_id)),
            refund_id=str(data.get("refund_id", refund_id)),
            subsidy_refund_id=str(data.get("subsidy_refund_id", "")),
            amount_fen=_int(data.get("amount"), amount_fen),
            result=str(data.get("result", "")),
            raw=data,
        )

    # --- profit sharing -----------------------------------------------------------------

    def profit_share_create(
        self,
        *,
        sub_mchid: str,
        transaction_id: str,
        out_order_no: str,
        receivers: Sequence[ShareReceiver],
        finish: bool = False,
    ) -> ShareResult:
        """Request a share (``finish`` false keeps the rest frozen). WeChat accepts it and works
        asynchronously: the answer is ``PROCESSING`` unless it says otherwise."""
        data = self._post(
            "profit share",
            SHARE_ORDERS,
            {
                "appid": self.appid,
                "sub_mchid": sub_mchid,
                "transaction_id": transaction_id,
                "out_order_no": out_order_no,
                "receivers": [
                    {
                        "type": r.type,
                        "receiver_account": r.account,
                        "amount": r.amount_fen,
                        "description": r.description[:80],
                    }
                    for r in receivers
                ],
                "finish": finish,
            },
        )
        return _share(data, sub_mchid=sub_mchid, transaction_id=transaction_id, out_order_no=out_order_no)

    def profit_share_query(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str
    ) -> ShareResult | None:
        query = urlencode(
            {"sub_mchid": sub_mchid, "transaction_id": transaction_id, "out_order_no": out_order_no}
        )
        data = self._get_or_none("profit share query", f"{SHARE_ORDERS}?{query}")
        if data is None:
            return None
        return _share(data, sub_mchid=sub_mchid, transaction_id=transaction_id, out_order_no=out_order_no)

    def profit_share_return_create(
        self,
        *,
        sub_mchid: str,
        out_order_no: str,
        out_return_no: str,
        return_mchid: str,
        amount_fen: int,
        description: str,
        transaction_id: str | None = None,
    ) -> ShareReturnResult:
        body: dict[str, Any] = {
            "sub_mchid": sub_mchid,
            "out_order_no": out_order_no,
            "out_return_no": out_return_no,
            "return_mchid": return_mchid,
            "amount": amount_fen,
            "description": description[:80],
        }
        if transaction_id:  # in WeChat's current model of the request; optional
            body["transaction_id"] = transaction_id
        data = self._post("profit share return", SHARE_RETURNS, body)
        return _share_return(data, sub_mchid, out_order_no, out_return_no, return_mchid, amount_fen)

    def profit_share_return_query(
        self, *, sub_mchid: str, out_order_no: str, out_return_no: str
    ) -> ShareReturnResult | None:
        query = urlencode(
            {"sub_mchid": sub_mchid, "out_order_no": out_order_no, "out_return_no": out_return_no}
        )
        data = self._get_or_none("profit share return query", f"{SHARE_RETURNS}?{query}")
        if data is None:
            return None
        return _share_return(data, sub_mchid, out_order_no, out_return_no, "", 0)

    def profit_share_finish(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, description: str
    ) -> ShareResult:
        """完结分账: unfreeze the rest for the merchant. Confirmed when ``profit_share_query``
        on this ``out_order_no`` says FINISHED (its ``finish_amount_fen`` is what was released)."""
        data = self._post(
            "profit share finish",
            SHARE_FINISH,
            {
                "sub_mchid": sub_mchid,
                "transaction_id": transaction_id,
                "out_order_no": out_order_no,
                "description": description[:80],
            },
        )
        return _share(data, sub_mchid=sub_mchid, transaction_id=transaction_id, out_order_no=out_order_no)

    def parse_profit_share_callback(self, *, headers: Mapping[str, str], body: bytes) -> ShareNotice:
        """A verified ``PROFITSHARING.*`` notification (分账动账通知: ``SUCCESS`` or ``RETURN``).

        WeChat sends it to the *receiver* (our platform account) once money reached it or left
        it, at the URL configured on the receiver's merchant platform (分账动账通知设置,
        ``service_notify_url``): the share request has no ``notify_url``. See
        ``profit_share_notify_url``. Every field is checked (``ecommerce_fields``)."""
        event_type, resource = self._verified(headers, body, "PROFITSHARING.")
        try:
            receiver = resource["receiver"]
            return share_notice(
                event=event_type.partition(".")[2],
                sub_mchid=resource["sub_mchid"],
                transaction_id=resource["transaction_id"],
                order_id=resource["order_id"],
                out_order_no=resource["out_order_no"],
                receiver_type=receiver["type"],
                receiver_account=receiver["account"],
                amount_fen=receiver["amount"],
                description=receiver.get("description"),
                raw=resource,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidCallback("Verified, but not a profit-sharing notification.") from exc

    # --- refunds ------------------------------------------------------------------------

    def refund(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
    ) -> EcommerceRefund:
        return self._refund(
            sub_mchid, out_trade_no, out_refund_no, refund_fen, total_fen, reason, advance=False
        )

    def advance_refund(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
    ) -> EcommerceRefund:
        return self._refund(
            sub_mchid, out_trade_no, out_refund_no, refund_fen, total_fen, reason, advance=True
        )

    def advance_return(self, *, sub_mchid: str, refund_id: str) -> AdvanceReturnResult:
        data = self._post(
            "advance return", REFUND_RETURN_ADVANCE.format(_seg(refund_id)), {"sub_mchid": sub_mchid}
        )
        return AdvanceReturnResult(
            refund_id=str(data.get("refund_id", refund_id)),
            advance_return_id=str(data.get("advance_return_id", "")),
            amount_fen=_int(data.get("return_amount"), 0),
            result=str(data.get("result", "")),
            raw=data,
        )

    def refund_query(self, *, sub_mchid: str, out_refund_no: str) -> EcommerceRefund | None:
        path = REFUND_BY_OUT_REFUND_NO.format(_seg(out_refund_no)) + "?" + urlencode({"sub_mchid": sub_mchid})
        data = self._get_or_none("refund query", path)
        if data is None:
            return None
        return _refund(data, sub_mchid=sub_mchid, out_refund_no=out_refund_no, out_trade_no="", refund_fen=0)

    def parse_refund_callback(self, *, headers: Mapping[str, str], body: bytes) -> EcommerceRefund:
        """A verified ``REFUND.*`` notification (``REFUND.SUCCESS``, ``.ABNORMAL``, ``.CLOSED``),
        sent to the ``notify_url`` of the refund request (``refund_notify_url``). Every field is
        checked (``ecommerce_fields``). An advanced refund (``refund_account`` the platform's)
        that names no ``amount.advance`` was advanced whole, as the apply answer's rule."""
        _, resource = self._verified(headers, body, "REFUND.")
        try:
            amount = resource["amount"]
            advance = amount.get("advance", 0)
            if resource.get("refund_account") == ADVANCE_ACCOUNT and not advance:
                advance = amount["refund"]
            return refund_notice(
                sub_mchid=resource["sub_mchid"],
                out_refund_no=resource["out_refund_no"],
                refund_id=resource["refund_id"],
                out_trade_no=resource["out_trade_no"],
                status=resource["refund_status"],
                refund_fen=amount["refund"],
                advance_fen=advance,
                raw=resource,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidCallback("Verified, but not a refund notification.") from exc

    def _refund(
        self,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        *,
        advance: bool,
    ) -> EcommerceRefund:
        body: dict[str, Any] = {
            "sub_mchid": sub_mchid,
            "sp_appid": self.appid,
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
            "notify_url": self._refund_notify_url,
        }
        if reason:
            body["reason"] = reason[:80]
        if advance:
            body["refund_account"] = ADVANCE_ACCOUNT
        data = self._post("advance refund" if advance else "refund", REFUND_APPLY, body)
        result = _refund(
            data,
            sub_mchid=sub_mchid,
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            refund_fen=refund_fen,
        )
        if advance and not result.advance_fen:
            # WeChat reports the advanced part in amount.advance when it gives it; an accepted
            # advance refund advances the whole refund.
            result = dataclasses.replace(result, advance_fen=result.refund_fen)
        return result

    # --- shipping (mini-program API, not WeChat Pay) ---------------------------------------

    def upload_shipping_info(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        transaction_id: str,
        openid: str,
        carrier: str,
        tracking_no: str,
        item_desc: str,
        combine_out_trade_no: str | None = None,
        pickup: bool = False,
    ) -> None:
        """One sub-order's shipment (``mp_shipping``). A partner payment's by its
        ``transaction_id``; a combined payment's in the combined form: the combined order and
        this sub-order, both keyed by the merchant that placed them (our platform, the
        combined prepay's ``combine_mchid`` and sub-order ``mchid``) and our numbers."""
        ship = shipment(carrier=carrier, tracking_no=tracking_no, item_desc=item_desc, pickup=pickup)
        payer, uploaded = {"openid": openid}, upload_time(SHANGHAI)
        if combine_out_trade_no is None:
            self._shipping.upload(
                {
                    "order_key": {"order_number_type": BY_TRANSACTION_ID, "transaction_id": transaction_id},
                    **ship,
                    "upload_time": uploaded,
                    "payer": payer,
                }
            )
            return
        self._shipping.upload_combined(
            {
                "order_key": {
                    "order_number_type": BY_OUT_TRADE_NO,
                    "mchid": self.sp_mchid,
                    "out_trade_no": combine_out_trade_no,
                },
                "sub_orders": [
                    {
                        "order_key": {
                            "order_number_type": BY_OUT_TRADE_NO,
                            "mchid": self.sp_mchid,
                            "out_trade_no": out_trade_no,
                        },
                        **ship,
                    }
                ],
                "upload_time": uploaded,
                "payer": payer,
            }
        )

    # --- bills --------------------------------------------------------------------------

    def bill_download(
        self, kind: str, date: datetime.date, *, sub_mchid: str | None = None
    ) -> Iterator[BillLine]:
        """Apply for the day's bill, then stream, check and parse it. The apply call happens now
        (so "not ready yet" is raised here); the file is fetched as the iterator is consumed."""
        if kind not in BILL_KINDS:
            raise ValidationFailed(f"No bill of kind {kind!r}: one of {', '.join(BILL_KINDS)}.")
        day = date.isoformat()
        if kind in ("trade", "refund"):
            params = {
                "bill_date": day,
                "bill_type": "ALL" if kind == "trade" else "REFUND",
                "tar_type": "GZIP",
            }
            if sub_mchid:
                params["sub_mchid"] = sub_mchid
            files = [self._get("trade bill", f"{TRADE_BILL}?{urlencode(params)}")]
        elif kind == "profitsharing":
            params = {"bill_date": day, "tar_type": "GZIP"}
            if sub_mchid:
                params["sub_mchid"] = sub_mchid
            files = [self._get("profit-sharing bill", f"{SHARE_BILL}?{urlencode(params)}")]
        elif sub_mchid is None:
            params = {"bill_date": day, "account_type": "BASIC", "tar_type": "GZIP"}
            files = [self._get("fund-flow bill", f"{FUNDFLOW_BILL}?{urlencode(params)}")]
        else:
            params = {
                "sub_mchid": sub_mchid,
                "bill_date": day,
                "account_type": "BASIC",
                "algorithm": "AEAD_AES_256_GCM",
            }
            data = self._get("sub-merchant fund-flow bill", f"{SUB_FUNDFLOW_BILL}?{urlencode(params)}")
            listed = data.get("download_bill_list") or []
            if not isinstance(listed, list) or not all(isinstance(f, dict) for f in listed):
                raise GatewayError(
                    "WeChat Pay sub-merchant fund-flow bill answered with an unexpected shape."
                )
            files = sorted(listed, key=lambda f: _int(f.get("bill_sequence"), 0))
        return parse_bill(kind, self._bill_lines(files), sub_mchid=sub_mchid)

    def _bill_lines(self, files: list[dict]) -> Iterator[str]:
        """The bill's text lines. A bill too large for one file comes in parts (bill_sequence):
        each is checked and decrypted, then they are joined in order into the one bill (WeChat
        may cut a part anywhere, even inside a line)."""
        if not files:
            return
        if len(files) == 1:
            with self._verified_bill_file(files[0]) as plain:
                yield from io.TextIOWrapper(plain, encoding="utf-8", newline="")
            return
        with tempfile.TemporaryFile() as whole:
            for entry in files:
                with self._verified_bill_file(entry) as part:
                    shutil.copyfileobj(part, whole, BILL_CHUNK)
            whole.seek(0)
            yield from io.TextIOWrapper(whole, encoding="utf-8", newline="")

    def _verified_bill_file(self, entry: dict) -> IO[bytes]:
        """The bill's plain text in a temporary file, once its hash (and GCM tag) checked out."""
        url = str(entry.get("download_url", ""))
        hash_type = str(entry.get("hash_type", "SHA1")).upper()
        expected = str(entry.get("hash_value", "")).lower()
        if hash_type != "SHA1" or not expected:
            raise GatewayError(f"WeChat Pay bill: unsupported hash {hash_type!r}.")
        raw = tempfile.TemporaryFile()  # noqa: SIM115 - closed on every path below
        try:
            raw_sha1 = self._download(url, raw)
            source: IO[bytes] = raw
            if entry.get("encrypt_key"):
                source = self._decrypted(raw, str(entry["encrypt_key"]), str(entry.get("nonce", "")))
                raw.close()
            plain, plain_sha1 = _plain_copy(source)
            source.close()
        except BaseException:
            raw.close()
            raise
        # WeChat hashes the original bill; accept the hash of what was downloaded as well, so a
        # file WeChat sends uncompressed or hashed as sent is not refused for that.
        if not (hmac.compare_digest(plain_sha1, expected) or hmac.compare_digest(raw_sha1, expected)):
            plain.close()
            raise GatewayError(
                "WeChat Pay bill: the file does not match its SHA1.", wechat_code="BILL_HASH_MISMATCH"
            )
        plain.seek(0)
        return plain

    def _download(self, url: str, out: IO[bytes]) -> str:
        """Signed GET of a bill file, streamed into ``out``; the SHA1 of what came."""
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname != API_HOST:
            # Our Authorization header goes to WeChat's API host only.
            raise GatewayError(f"WeChat Pay bill: unexpected download URL host {parts.hostname!r}.")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        authorization = build_authorization(
            path, "GET", self.sp_mchid, self._cert_serial_no, self._private_key, data=None
        )
        sha1 = hashlib.sha1()  # noqa: S324 - WeChat's bill hash is SHA1: an integrity check, not a secret
        try:
            with requests.get(
                url,
                headers={
                    "Authorization": authorization,
                    "Wechatpay-Serial": self._public_key_id,
                    "Accept": "*/*",
                    "User-Agent": "groupbuy-shop",
                },
                stream=True,
                timeout=BILL_TIMEOUT_S,
            ) as response:
                if response.status_code != 200:
                    raise GatewayError(
                        f"WeChat Pay bill download: HTTP {response.status_code}.", status=response.status_code
                    )
                for chunk in response.iter_content(BILL_CHUNK):
                    sha1.update(chunk)
                    out.write(chunk)
        except requests.RequestException as exc:
            raise GatewayError(f"WeChat Pay bill download: {type(exc).__name__}.") from exc
        out.seek(0)
        return sha1.hexdigest()

    def _decrypted(self, raw: IO[bytes], encrypt_key: str, nonce: str) -> IO[bytes]:
        """AES-256-GCM decryption of a bill file (ciphertext then 16-byte tag), streamed; the key
        comes RSA-OAEP-encrypted with our merchant key. ``GatewayError`` if it does not verify."""
        try:
            # WeChat encrypts the key with RSA-OAEP (SHA1), as its APIv3 sensitive fields.
            key = self._private_key.decrypt(
                b64decode(encrypt_key),
                OAEP(mgf=MGF1(algorithm=SHA1()), algorithm=SHA1(), label=None),  # noqa: S303
            )
        except ValueError as exc:
            raise GatewayError("WeChat Pay bill: the bill key does not decrypt with our key.") from exc
        if len(key) != 32:
            with contextlib.suppress(ValueError):
                key = b64decode(key, validate=True)
        if len(key) != 32:
            raise GatewayError("WeChat Pay bill: the bill key is not an AES-256 key.")
        size = raw.seek(0, io.SEEK_END)
        if size < GCM_TAG_BYTES or not nonce:
            raise GatewayError("WeChat Pay bill: encrypted file too short or without nonce.")
        raw.seek(size - GCM_TAG_BYTES)
        tag = raw.read(GCM_TAG_BYTES)
        raw.seek(0)
        decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce.encode(), tag)).decryptor()
        out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, or closed
        remaining = size - GCM_TAG_BYTES
        try:
            while remaining:
                chunk = raw.read(min(BILL_CHUNK, remaining))
                remaining -= len(chunk)
                out.write(decryptor.update(chunk))
            out.write(decryptor.finalize())
        except InvalidTag as exc:
            out.close()
            raise GatewayError("WeChat Pay bill: the encrypted file does not verify (GCM tag).") from exc
        out.seek(0)
        return out

    # --- plumbing -----------------------------------------------------------------------

    def _post(self, what: str, path: str, body: dict) -> dict:
        return call_library(what, self._pay._core.request, path, RequestType.POST, body)

    def _get(self, what: str, path: str) -> dict:
        return call_library(what, self._pay._core.request, path, RequestType.GET)

    def _get_or_none(self, what: str, path: str) -> dict | None:
        try:
            return self._get(what, path)
        except GatewayError as exc:
            if exc.status == 404:  # RESOURCE_NOT_EXISTS / ORDER_NOT_EXIST
                return None
            raise

    def _verified(self, headers: Mapping[str, str], body: bytes, prefix: str) -> tuple[str, dict]:
        return verified_event(
            headers,
            body,
            event_prefix=prefix,
            public_key_id=self._public_key_id,
            public_key=self._public_key,
            apiv3_key=self._apiv3_key,
        )

    def _pay_params(self, data: dict) -> dict:
        return jsapi_pay_params(self._pay, appid=self.appid, prepay_answer=data)


def our_url(public_url: str, route: str, gateway: str = WechatPayEcommerceGateway.name) -> str:
    """The absolute URL of our ``route`` (for ``gateway``) on the host of ``public_url``: the
    path comes from our URLconf, so what we send WeChat cannot drift from our routes."""
    from django.urls import reverse

    base = urlsplit(public_url)
    return urlunsplit((base.scheme, base.netloc, reverse(route, kwargs={"gateway": gateway}), "", ""))


def _rfc3339(moment: datetime.datetime) -> str:
    """WeChat's time format, in Beijing time: ``2024-07-01T12:30:00+08:00``."""
    if moment.tzinfo is None:
        raise ValidationFailed("expires_at must be timezone-aware.")
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _seg(value: str) -> str:
    """A path segment, escaped (our numbers are plain, but never let one change the path)."""
    return quote(value, safe="")


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _settle_info(sub_order: SubOrder) -> dict:
    info: dict[str, Any] = {"profit_sharing": True}
    if sub_order.subsidy_fen:
        info["subsidy_amount"] = sub_order.subsidy_fen
    return info


def _check_sub_order(sub_order: SubOrder) -> None:
    if not sub_order.sub_mchid or not sub_order.out_trade_no:
        raise ValidationFailed("A sub-order needs its sub_mchid and out_trade_no.")
    if sub_order.amount_fen <= 0 or sub_order.subsidy_fen < 0:
        raise ValidationFailed("A sub-order's amount must be positive and its subsidy not negative.")


def _check_combine(sub_orders: Sequence[SubOrder]) -> None:
    if not 1 <= len(sub_orders) <= MAX_SUB_ORDERS:
        raise ValidationFailed(
            f"A combined payment has 1 to {MAX_SUB_ORDERS} sub-orders, not {len(sub_orders)}."
        )
    for sub_order in sub_orders:
        _check_sub_order(sub_order)


def _partner_payment(data: dict) -> EcommercePayment:
    amount = data.get("amount") or {}
    part = PaymentPart(
        sub_mchid=text(data["sub_mchid"]),
        out_trade_no=text(data["out_trade_no"]),
        transaction_id=str(data.get("transaction_id") or ""),
        amount_fen=fen(amount["total"]),
        trade_state=text(data["trade_state"]),
        payer_fen=_int_or_none(amount.get("payer_total")),
    )
    return EcommercePayment(combine_out_trade_no=None, parts=(part,), raw=data)


def _combined_payment(data: dict) -> EcommercePayment:
    parts = []
    for sub in data["sub_orders"]:
        amount = sub["amount"]
        parts.append(
            PaymentPart(
                sub_mchid=text(sub["sub_mchid"]),
                out_trade_no=text(sub["out_trade_no"]),
                transaction_id=str(sub.get("transaction_id") or ""),
                amount_fen=fen(amount["total_amount"]),
                trade_state=text(sub["trade_state"]),
                payer_fen=_int_or_none(amount.get("payer_amount")),
            )
        )
    if not parts:
        raise ValueError("a combined payment without sub-orders")
    return EcommercePayment(
        combine_out_trade_no=text(data["combine_out_trade_no"]), parts=tuple(parts), raw=data
    )


def _answer(what: str):
    """Parse a (signed) answer of WeChat's; one of an unexpected shape is a ``GatewayError``."""

    def decorate(parse):
        @functools.wraps(parse)
        def wrapper(*args, **kwargs):
            try:
                return parse(*args, **kwargs)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise GatewayError(f"WeChat Pay {what} answered with an unexpected shape.") from exc

        return wrapper

    return decorate


@_answer("profit share")
def _share(data: dict, *, sub_mchid: str, transaction_id: str, out_order_no: str) -> ShareResult:
    receivers = []
    for r in data.get("receivers") or []:
        receivers.append(
            ShareReceiverResult(
                account=str(r.get("receiver_account") or r.get("receiver_mchid") or ""),
                amount_fen=_int(r.get("amount"), 0),
                description=str(r.get("description", "")),
                result=str(r.get("result", "PENDING")),
                type=str(r.get("type", "MERCHANT_ID")),
                fail_reason=str(r.get("fail_reason", "")),
            )
        )
    return ShareResult(
        sub_mchid=str(data.get("sub_mchid") or sub_mchid),
        transaction_id=str(data.get("transaction_id") or transaction_id),
        out_order_no=str(data.get("out_order_no") or out_order_no),
        order_id=str(data.get("order_id", "")),
        status=str(data.get("status") or PROCESSING),
        receivers=tuple(receivers),
        close_reason=str(data.get("close_reason", "")),
        finish_amount_fen=_int(data.get("finish_amount"), 0),
        raw=data,
    )


@_answer("profit share return")
def _share_return(
    data: dict, sub_mchid: str, out_order_no: str, out_return_no: str, return_mchid: str, amount_fen: int
) -> ShareReturnResult:
    return ShareReturnResult(
        sub_mchid=str(data.get("sub_mchid") or sub_mchid),
        out_order_no=str(data.get("out_order_no") or out_order_no),
        out_return_no=str(data.get("out_return_no") or out_return_no),
        return_no=str(data.get("return_no", "")),
        return_mchid=str(data.get("return_mchid") or return_mchid),
        amount_fen=_int(data.get("amount"), amount_fen),
        result=str(data.get("result") or PROCESSING),
        fail_reason=str(data.get("fail_reason", "")),
        raw=data,
    )


@_answer("refund")
def _refund(
    data: dict, *, sub_mchid: str, out_refund_no: str, out_trade_no: str, refund_fen: int
) -> EcommerceRefund:
    amount = data.get("amount") or {}
    return EcommerceRefund(
        sub_mchid=str(data.get("sub_mchid") or sub_mchid),
        out_refund_no=str(data.get("out_refund_no") or out_refund_no),
        refund_id=str(data.get("refund_id", "")),
        out_trade_no=str(data.get("out_trade_no") or out_trade_no),
        # The apply answer carries no status: the refund is under way until notified or queried.
        status=str(data.get("status") or PROCESSING),
        refund_fen=_int(amount.get("refund"), refund_fen),
        advance_fen=_int(amount.get("advance"), 0),
        raw=data,
    )


def _plain_copy(source: IO[bytes]) -> tuple[IO[bytes], str]:
    """Copy (gunzipping when it is gzip) into a new temporary file; the SHA1 of the plain text."""
    head = source.read(2)
    source.seek(0)
    reader: IO[bytes] = gzip.GzipFile(fileobj=source, mode="rb") if head == b"\x1f\x8b" else source
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, or closed
    sha1 = hashlib.sha1()  # noqa: S324 - WeChat's bill hash
    try:
        while chunk := reader.read(BILL_CHUNK):
            sha1.update(chunk)
            out.write(chunk)
    except (OSError, EOFError) as exc:  # a damaged gzip stream
        out.close()
        raise GatewayError("WeChat Pay bill: the file does not decompress.") from exc
    return out, sha1.hexdigest()

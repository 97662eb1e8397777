"""The mini-program order-shipping API (发货信息管理服务), shared by both WeChat Pay adapters.

WeChat holds a mini-program's goods money until it is told of the shipment. One payment
(支付单) is reported with ``/wxa/sec/order/upload_shipping_info`` (by its ``transaction_id``);
a combined payment's sub-orders (合单) with ``/wxa/sec/order/upload_combined_shipping_info``:
the combined order (``combine_mchid`` + ``combine_out_trade_no``: a combined payment has no
transaction id of its own) and, in ``sub_orders``, each sub-order by the merchant that placed
it (the ``mchid`` of the combined prepay's sub-order: our platform) and its ``out_trade_no``
(WeChat wants the same kind of key for the combined order and its sub-orders). Only the
sub-orders that shipped are listed, each once: WeChat accepts one correction per 支付单.

Logistics type: ``1`` express (a carrier and a tracking number), ``4`` the buyer collects it
(用户自提: the item only). The API is WeChat's mini-program API, not WeChat Pay: it is
authenticated by the mini-program's ``access_token`` (``stable_token``, cached for every
process), and answers ``errcode``.
"""

from __future__ import annotations

import json

import requests
from django.utils import timezone

from shop.wechat_token import NoAccessToken, mp_access_token, mp_access_token_drop, token_expired

from .base import GatewayError, GatewayNotConfigured
from .wechat_v3 import HTTP_TIMEOUT_S

MP_API = "https://api.weixin.qq.com"
UPLOAD = "/wxa/sec/order/upload_shipping_info"
UPLOAD_COMBINED = "/wxa/sec/order/upload_combined_shipping_info"
BY_OUT_TRADE_NO, BY_TRANSACTION_ID = 1, 2  # order_number_type
EXPRESS, PICKUP = 1, 4  # logistics_type: 实体物流配送, 用户自提
UNIFIED_DELIVERY = 1  # delivery_mode: one parcel for the whole (sub-)order
ITEM_DESC_MAX = 120


def shipment(*, carrier: str, tracking_no: str, item_desc: str, pickup: bool) -> dict:
    """The shipment fields of one (sub-)order: an express parcel, or collected by the buyer."""
    if pickup:
        return {
            "logistics_type": PICKUP,
            "delivery_mode": UNIFIED_DELIVERY,
            "shipping_list": [{"item_desc": item_desc[:ITEM_DESC_MAX]}],
        }
    return {
        "logistics_type": EXPRESS,
        "delivery_mode": UNIFIED_DELIVERY,
        "shipping_list": [
            {"tracking_no": tracking_no, "express_company": carrier, "item_desc": item_desc[:ITEM_DESC_MAX]}
        ],
    }


def upload_time(shanghai) -> str:
    """WeChat's ``upload_time`` (RFC 3339, milliseconds, Beijing time): later uploads win."""
    return timezone.now().astimezone(shanghai).isoformat(timespec="milliseconds")


class MiniProgramShipping:
    """One mini-program's shipping uploads. ``GatewayError`` (``wechat_code`` the errcode) for
    any refusal or failure to reach WeChat: the caller's task retries, and an upload sent
    again is WeChat's correction of the first."""

    def __init__(self, *, appid: str, app_secret: str) -> None:
        self.appid = appid
        self._app_secret = app_secret

    def upload(self, payload: dict) -> None:
        self._upload(UPLOAD, payload)

    def upload_combined(self, payload: dict) -> None:
        self._upload(UPLOAD_COMBINED, payload)

    def _upload(self, path: str, payload: dict) -> None:
        token = self.access_token()
        try:
            self.post(path, payload, access_token=token)
        except GatewayError as exc:
            if token_expired(exc.wechat_code):
                mp_access_token_drop(self.appid)  # the retry fetches a fresh one
            raise

    def access_token(self) -> str:
        """The mini-program's access token, shared through the cache (``shop/wechat_token.py``)."""
        if not self._app_secret:
            raise GatewayNotConfigured("WECHAT_APP_SECRET is needed to call the mini-program API.")
        try:
            return mp_access_token(appid=self.appid, app_secret=self._app_secret, post=self.post)
        except NoAccessToken as exc:
            raise GatewayError(str(exc)) from exc

    def post(self, path: str, payload: dict, *, access_token: str | None = None) -> dict:
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

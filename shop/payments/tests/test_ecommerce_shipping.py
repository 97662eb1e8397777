"""Shipping info of shared payments through the WeChat Pay e-commerce adapter, against the
fake WeChat the direct adapter's shipping tests use (``test_wechatpay``): the combined form
(``upload_combined_shipping_info``) for a combined payment's sub-order, the sub-order's own
transaction for a partner payment, pickup as its own logistics type."""

from __future__ import annotations

import json
import re

import pytest

from shop.payments.gateways.base import GatewayError
from shop.payments.gateways.ecommerce_wechatpay import WechatPayEcommerceGateway

from .test_wechatpay import (  # noqa: F401 - fixtures
    APPID,
    MCHID,
    OPENID,
    fake_wechat,
    merchant_key,
    platform_key,
    wechatpay_settings,
)

SUB_A = "1600000001"
TXN_A = "4200002345202407011234567890"
MP = "https://api.weixin.qq.com/wxa/sec/order"


@pytest.fixture
def gw(wechatpay_settings) -> WechatPayEcommerceGateway:  # noqa: F811
    return WechatPayEcommerceGateway.from_settings()


def _ship(gw, **changes) -> None:
    gw.upload_shipping_info(
        **{
            "sub_mchid": SUB_A,
            "out_trade_no": "C240701120000101",
            "transaction_id": TXN_A,
            "openid": OPENID,
            "carrier": "ZTO",
            "tracking_no": "73100000000001",
            "item_desc": "有机草莓*2",
            **changes,
        }
    )


def _upload(request) -> dict:
    body = json.loads(request.body)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", body.pop("upload_time"))
    return body


def test_a_combined_payments_sub_order_is_uploaded_in_the_combined_form(gw, fake_wechat):  # noqa: F811
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})

    _ship(gw, combine_out_trade_no="C2407011200001")

    token_request, upload = fake_wechat.sent
    assert json.loads(token_request.body)["appid"] == APPID
    assert upload.url == f"{MP}/upload_combined_shipping_info?access_token=ACCESS-1"
    assert _upload(upload) == {
        # The combined payment has no transaction of its own: our numbers, under the platform
        # merchant that placed it and each of its sub-orders (combine_mchid, sub-order mchid).
        "order_key": {"order_number_type": 1, "mchid": MCHID, "out_trade_no": "C2407011200001"},
        "sub_orders": [
            {
                "order_key": {"order_number_type": 1, "mchid": MCHID, "out_trade_no": "C240701120000101"},
                "logistics_type": 1,
                "delivery_mode": 1,
                "shipping_list": [
                    {"tracking_no": "73100000000001", "express_company": "ZTO", "item_desc": "有机草莓*2"}
                ],
            }
        ],
        "payer": {"openid": OPENID},
    }


def test_a_partner_payment_is_uploaded_by_its_own_transaction_and_the_token_is_reused(gw, fake_wechat):  # noqa: F811
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})

    _ship(gw)
    _ship(gw, item_desc="有机草莓*3")  # a correction: same token

    _, first, second = fake_wechat.sent
    assert first.url == second.url == f"{MP}/upload_shipping_info?access_token=ACCESS-1"
    assert _upload(first) == {
        "order_key": {"order_number_type": 2, "transaction_id": TXN_A},
        "logistics_type": 1,
        "delivery_mode": 1,
        "shipping_list": [
            {"tracking_no": "73100000000001", "express_company": "ZTO", "item_desc": "有机草莓*2"}
        ],
        "payer": {"openid": OPENID},
    }


@pytest.mark.parametrize("combine", [None, "C2407011200001"])
def test_a_pickup_order_is_its_own_logistics_type_without_a_carrier(gw, fake_wechat, combine):  # noqa: F811
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})

    _ship(gw, combine_out_trade_no=combine, pickup=True, item_desc="x" * 200)

    body = _upload(fake_wechat.sent[1])
    shipment = body["sub_orders"][0] if combine else body
    assert shipment["logistics_type"] == 4  # 用户自提
    assert shipment["shipping_list"] == [{"item_desc": "x" * 120}]


def test_an_expired_token_fails_the_upload_and_the_retry_fetches_a_fresh_one(gw, fake_wechat):  # noqa: F811
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 42001, "errmsg": "access_token expired"})
    fake_wechat.reply(200, {"access_token": "ACCESS-2", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 0, "errmsg": "ok"})

    with pytest.raises(GatewayError) as caught:
        _ship(gw, combine_out_trade_no="C2407011200001")
    _ship(gw, combine_out_trade_no="C2407011200001")  # the task's retry

    assert caught.value.wechat_code == "42001"
    assert fake_wechat.sent[-1].url == f"{MP}/upload_combined_shipping_info?access_token=ACCESS-2"


def test_wechats_refusal_of_a_combined_upload_is_a_gateway_error(gw, fake_wechat):  # noqa: F811
    fake_wechat.reply(200, {"access_token": "ACCESS-1", "expires_in": 7200})
    fake_wechat.reply(200, {"errcode": 10060001, "errmsg": "支付单不存在"})

    with pytest.raises(GatewayError) as caught:
        _ship(gw, combine_out_trade_no="C2407011200001")

    assert caught.value.wechat_code == "10060001"

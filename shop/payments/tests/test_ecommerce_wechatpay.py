"""The WeChat Pay e-commerce adapter (平台收付通) against real cryptography, offline.

The fake WeChat of ``test_wechatpay`` answers at the ``requests`` transport: it sees the exact
bytes we send (each request's signature is checked with the merchant key generated here) and
signs its JSON answers with the platform key. Notifications are built as WeChat builds them
(AES-256-GCM resource under the APIv3 key, SHA256-RSA over timestamp, nonce and body). Bill
files are served as raw bytes: gzip, or AES-256-GCM under a key RSA-OAEP-encrypted with our
merchant key, with the SHA1 WeChat gives.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import io
import json
import secrets
import tracemalloc
from base64 import b64decode, b64encode
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP, PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA1, SHA256
from requests.structures import CaseInsensitiveDict

from shop.errors import ValidationFailed
from shop.payments.gateways.base import GatewayError, InvalidCallback
from shop.payments.gateways.ecommerce import (
    FINISHED,
    PROCESSING,
    EcommercePayment,
    PaymentPart,
    ShareReceiver,
    SubOrder,
    ecommerce_gateway_get,
    is_not_settled,
    retry_later,
)
from shop.payments.gateways.ecommerce_wechatpay import WechatPayEcommerceGateway

from .test_wechatpay import (  # noqa: F401 - fixtures
    APPID,
    MCHID,
    NOTIFY_URL,
    OPENID,
    FakeWechat,
    merchant_key,
    notification,
    platform_key,
    signed_request_body,
    stranger_key,
    wechatpay_settings,
)

SUB_A, SUB_B = "1600000001", "1600000002"
TXN_A, TXN_B = "4200002345202407011234567890", "4200002345202407011234567891"
API = "https://api.mch.weixin.qq.com"
DAY = datetime.date(2024, 7, 1)

COMBINE_RESOURCE = {
    "combine_appid": APPID,
    "combine_mchid": MCHID,
    "combine_out_trade_no": "C2407011200001",
    "scene_info": {"device_id": "POS1:1"},
    "sub_orders": [
        {
            "mchid": MCHID,
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "bank_type": "OTHERS",
            "attach": "C2407011200001-1",
            "success_time": "2024-07-01T12:00:05+08:00",
            "transaction_id": TXN_A,
            "out_trade_no": "C2407011200001-1",
            "sub_mchid": SUB_A,
            "amount": {
                "total_amount": 8000,
                "payer_amount": 8000,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        },
        {
            "mchid": MCHID,
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "bank_type": "OTHERS",
            "attach": "C2407011200001-2",
            "success_time": "2024-07-01T12:00:05+08:00",
            "transaction_id": TXN_B,
            "out_trade_no": "C2407011200001-2",
            "sub_mchid": SUB_B,
            "amount": {
                "total_amount": 1990,
                "payer_amount": 1990,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        },
    ],
    "combine_payer_info": {"openid": OPENID},
}
PARTNER_RESOURCE = {
    "sp_appid": APPID,
    "sp_mchid": MCHID,
    "sub_mchid": SUB_A,
    "out_trade_no": "P2407011200001",
    "transaction_id": TXN_A,
    "trade_type": "JSAPI",
    "trade_state": "SUCCESS",
    "trade_state_desc": "支付成功",
    "bank_type": "OTHERS",
    "attach": "",
    "success_time": "2024-07-01T12:00:05+08:00",
    "payer": {"sp_openid": OPENID},
    "amount": {"total": 990, "payer_total": 990, "currency": "CNY", "payer_currency": "CNY"},
}
SHARE_NOTICE = {
    "sp_mchid": MCHID,
    "sub_mchid": SUB_A,
    "transaction_id": TXN_A,
    "order_id": "3008450740201411110007820472",
    "out_order_no": "S-1001",
    "receiver": {"type": "MERCHANT_ID", "account": MCHID, "amount": 800, "description": "平台佣金"},
    "success_time": "2024-07-02T10:00:00+08:00",
}
REFUND_NOTICE = {
    "sp_mchid": MCHID,
    "sub_mchid": SUB_B,
    "transaction_id": TXN_B,
    "out_trade_no": "C2407011200001-2",
    "refund_id": "50000000382019052709732678859",
    "out_refund_no": "R-2001",
    "refund_status": "SUCCESS",
    "success_time": "2024-07-03T09:00:03+08:00",
    "user_received_account": "支付用户零钱",
    "amount": {"total": 1990, "refund": 1990, "payer_total": 1990, "payer_refund": 1990},
    "refund_account": "REFUND_SOURCE_PARTNER_ADVANCE",
}


class BillWechat(FakeWechat):
    """The fake WeChat, which can also serve a bill file's raw bytes (unsigned, as WeChat's are)."""

    def reply_file(self, content: bytes, status: int = 200) -> None:
        self.replies.append(("file", status, content))

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        if self.replies and isinstance(self.replies[0], tuple) and self.replies[0][0] == "file":
            self.sent.append(request)
            _, status, content = self.replies.pop(0)
            response = requests.Response()
            response.status_code = status
            response.raw = io.BytesIO(content)  # streamed, as a real download is
            response.url = request.url
            response.request = request
            response.headers = CaseInsensitiveDict({"Content-Type": "application/octet-stream"})
            return response
        return super().send(request, **kwargs)


@pytest.fixture
def fake(monkeypatch, platform_key) -> BillWechat:  # noqa: F811
    fake = BillWechat(platform_key=platform_key)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake.send)
    return fake


@pytest.fixture
def gw(wechatpay_settings) -> WechatPayEcommerceGateway:  # noqa: F811
    return WechatPayEcommerceGateway.from_settings()


def sent(fake, index, merchant_key):  # noqa: F811
    """The index-th request: method, path, query and its signature-checked JSON body."""
    request = fake.sent[index]
    url = urlsplit(request.url)
    return request.method, url.path, parse_qs(url.query), signed_request_body(request, merchant_key)


def test_registry_builds_the_wechatpay_ecommerce_gateway(wechatpay_settings):  # noqa: F811
    assert ecommerce_gateway_get("wechatpay").name == "wechatpay"


# --- payments ---------------------------------------------------------------------------


def test_partner_prepay_sends_a_signed_partner_jsapi_order_frozen_for_sharing(gw, fake, merchant_key):  # noqa: F811
    fake.reply(200, {"prepay_id": "wx201410272009395522657a690389285100"})
    order = SubOrder(sub_mchid=SUB_A, out_trade_no="P1", amount_fen=990, description="苹果", subsidy_fen=100)

    params = gw.partner_prepay(sub_order=order, openid=OPENID)

    method, path, _, body = sent(fake, 0, merchant_key)
    assert (method, path) == ("POST", "/v3/pay/partner/transactions/jsapi")
    assert body["sp_appid"] == APPID
    assert body["sp_mchid"] == MCHID
    assert body["sub_mchid"] == SUB_A
    assert body["out_trade_no"] == "P1"
    assert body["amount"] == {"total": 990, "currency": "CNY"}
    assert body["payer"] == {"sp_openid": OPENID}
    assert body["settle_info"] == {"profit_sharing": True, "subsidy_amount": 100}
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    merchant_key.public_key().verify(b64decode(params["paySign"]), message, PKCS1v15(), SHA256())


def test_combine_prepay_sends_every_sub_order_with_its_merchant_and_subsidy(gw, fake, merchant_key):  # noqa: F811
    fake.reply(200, {"prepay_id": "wx-combined"})
    orders = [
        SubOrder(sub_mchid=SUB_A, out_trade_no="C1-1", amount_fen=8000, description="A", subsidy_fen=500),
        SubOrder(sub_mchid=SUB_B, out_trade_no="C1-2", amount_fen=1990, description="B"),
    ]

    expires = datetime.datetime(2024, 7, 1, 4, 30, tzinfo=datetime.UTC)
    params = gw.combine_prepay(
        combine_out_trade_no="C1", sub_orders=orders, openid=OPENID, expires_at=expires
    )

    method, path, _, body = sent(fake, 0, merchant_key)
    assert body["time_expire"] == "2024-07-01T12:30:00+08:00"
    # Our e-commerce endpoint on NOTIFY_URL's host, never the direct merchant's endpoint.
    assert body["notify_url"] == "https://shop.example.com/api/v1/payments/wechatpay/ecommerce-notify"
    assert (method, path) == ("POST", "/v3/combine-transactions/jsapi")
    assert (body["combine_appid"], body["combine_mchid"], body["combine_out_trade_no"]) == (
        APPID,
        MCHID,
        "C1",
    )
    assert body["combine_payer_info"] == {"openid": OPENID}
    assert [
        (s["sub_mchid"], s["out_trade_no"], s["amount"]["total_amount"], s["settle_info"], s["mchid"])
        for s in body["sub_orders"]
    ] == [
        (SUB_A, "C1-1", 8000, {"profit_sharing": True, "subsidy_amount": 500}, MCHID),
        (SUB_B, "C1-2", 1990, {"profit_sharing": True}, MCHID),
    ]
    assert params["package"] == "prepay_id=wx-combined"


def test_more_than_50_sub_orders_are_refused_before_sending(gw, fake):
    orders = [
        SubOrder(sub_mchid=SUB_A, out_trade_no=f"S{i}", amount_fen=1, description="x") for i in range(51)
    ]

    with pytest.raises(ValidationFailed):
        gw.combine_prepay(combine_out_trade_no="C51", sub_orders=orders, openid=OPENID)
    assert fake.sent == []


def test_combine_close_lists_every_sub_order(gw, fake, merchant_key):  # noqa: F811
    fake.reply(204, None)
    fake.reply(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
    fake.reply(400, {"code": "ORDERPAID", "message": "订单已支付"})
    parts = [PaymentPart(SUB_A, "C1-1", "", 8000, "NOTPAY"), PaymentPart(SUB_B, "C1-2", "", 1990, "NOTPAY")]

    gw.combine_close(combine_out_trade_no="C1", sub_orders=parts)
    gw.combine_close(combine_out_trade_no="C1", sub_orders=parts)  # never seen: as good as closed
    with pytest.raises(GatewayError) as caught:
        gw.combine_close(combine_out_trade_no="C1", sub_orders=parts)

    assert caught.value.wechat_code == "ORDERPAID"
    method, path, _, body = sent(fake, 0, merchant_key)
    assert (method, path) == ("POST", "/v3/combine-transactions/out-trade-no/C1/close")
    assert body == {
        "combine_appid": APPID,
        "sub_orders": [
            {"mchid": MCHID, "out_trade_no": "C1-1", "sub_mchid": SUB_A},
            {"mchid": MCHID, "out_trade_no": "C1-2", "sub_mchid": SUB_B},
        ],
    }


def test_partner_close_names_both_merchants(gw, fake, merchant_key):  # noqa: F811
    fake.reply(204, None)

    gw.partner_close(sub_mchid=SUB_A, out_trade_no="P1")

    method, path, _, body = sent(fake, 0, merchant_key)
    assert (method, path, body) == (
        "POST",
        "/v3/pay/partner/transactions/out-trade-no/P1/close",
        {"sp_mchid": MCHID, "sub_mchid": SUB_A},
    )


def test_queries_parse_parts_and_unknown_payments_are_none(gw, fake, merchant_key):  # noqa: F811
    fake.reply(200, COMBINE_RESOURCE)
    fake.reply(200, PARTNER_RESOURCE)
    fake.reply(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})

    combined = gw.combine_query("C2407011200001")
    partner = gw.partner_query(sub_mchid=SUB_A, out_trade_no="P2407011200001")
    missing = gw.combine_query("never")

    assert combined.succeeded
    assert [(p.sub_mchid, p.transaction_id, p.amount_fen) for p in combined.parts] == [
        (SUB_A, TXN_A, 8000),
        (SUB_B, TXN_B, 1990),
    ]
    assert partner.parts == (PaymentPart(SUB_A, "P2407011200001", TXN_A, 990, "SUCCESS", 990),)
    assert missing is None
    assert sent(fake, 0, merchant_key)[1] == "/v3/combine-transactions/out-trade-no/C2407011200001"
    _, path, query, _ = sent(fake, 1, merchant_key)
    assert path == "/v3/pay/partner/transactions/out-trade-no/P2407011200001"
    assert query == {"sp_mchid": [MCHID], "sub_mchid": [SUB_A]}


def test_combined_and_partner_payment_callbacks_parse_per_sub_order(gw, platform_key):  # noqa: F811
    headers, body = notification(COMBINE_RESOURCE, signer=platform_key)
    combined = gw.parse_payment_callback(headers=headers, body=body)
    headers, body = notification(PARTNER_RESOURCE, signer=platform_key)
    partner = gw.parse_payment_callback(headers=headers, body=body)

    assert combined == EcommercePayment(
        combine_out_trade_no="C2407011200001",
        parts=(
            PaymentPart(SUB_A, "C2407011200001-1", TXN_A, 8000, "SUCCESS", 8000),
            PaymentPart(SUB_B, "C2407011200001-2", TXN_B, 1990, "SUCCESS", 1990),
        ),
    )
    assert partner.combine_out_trade_no is None
    assert partner.parts[0].amount_fen == 990


def test_payment_callbacks_that_do_not_verify_are_refused(gw, platform_key, stranger_key):  # noqa: F811
    headers, body = notification(COMBINE_RESOURCE, signer=stranger_key)
    with pytest.raises(InvalidCallback):
        gw.parse_payment_callback(headers=headers, body=body)
    headers, body = notification(COMBINE_RESOURCE, signer=platform_key, apiv3_key="b" * 32)
    with pytest.raises(InvalidCallback):
        gw.parse_payment_callback(headers=headers, body=body)
    headers, body = notification(REFUND_NOTICE, signer=platform_key, event_type="REFUND.SUCCESS")
    with pytest.raises(InvalidCallback):
        gw.parse_payment_callback(headers=headers, body=body)
    broken = {**COMBINE_RESOURCE, "sub_orders": [{**COMBINE_RESOURCE["sub_orders"][0], "amount": {}}]}
    headers, body = notification(broken, signer=platform_key)
    with pytest.raises(InvalidCallback):
        gw.parse_payment_callback(headers=headers, body=body)


# --- subsidies and shares ---------------------------------------------------------------


def test_subsidy_and_its_return(gw, fake, merchant_key):  # noqa: F811
    fake.reply(
        200,
        {
            "sub_mchid": SUB_A,
            "transaction_id": TXN_A,
            "subsidy_id": "3008450740201411110007820472",
            "description": "平台券补差",
            "amount": 500,
            "result": "SUCCESS",
            "success_time": "2024-07-01T12:05:00+08:00",
        },
    )
    fake.reply(
        200,
        {
            "sub_mchid": SUB_A,
            "transaction_id": TXN_A,
            "subsidy_refund_id": "3008450740201411110007820473",
            "refund_id": "5000",
            "out_order_no": "SR-1",
            "amount": 250,
            "description": "退款补差回退",
            "result": "SUCCESS",
            "success_time": "2024-07-03T12:05:00+08:00",
        },
    )

    created = gw.subsidy_create(
        sub_mchid=SUB_A, transaction_id=TXN_A, amount_fen=500, description="平台券补差", out_subsidy_no="SB-1"
    )
    returned = gw.subsidy_return(
        sub_mchid=SUB_A,
        out_order_no="SR-1",
        transaction_id=TXN_A,
        refund_id="5000",
        amount_fen=250,
        description="退款补差回退",
    )

    assert (created.result, created.amount_fen, created.subsidy_id) == (
        "SUCCESS",
        500,
        "3008450740201411110007820472",
    )
    assert (returned.out_order_no, returned.amount_fen, returned.result) == ("SR-1", 250, "SUCCESS")
    assert sent(fake, 0, merchant_key)[1:] == (
        "/v3/ecommerce/subsidies/create",
        {},
        {
            "sub_mchid": SUB_A,
            "transaction_id": TXN_A,
            "amount": 500,
            "description": "平台券补差",
            "out_subsidy_no": "SB-1",
        },
    )
    assert sent(fake, 1, merchant_key)[1:] == (
        "/v3/ecommerce/subsidies/return",
        {},
        {
            "sub_mchid": SUB_A,
            "out_order_no": "SR-1",
            "transaction_id": TXN_A,
            "refund_id": "5000",
            "amount": 250,
            "description": "退款补差回退",
        },
    )


def test_a_share_is_sent_with_finish_false_and_is_processing_then_finished(gw, fake, merchant_key):  # noqa: F811
    fake.reply(
        200,
        {
            "sub_mchid": SUB_A,
            "transaction_id": TXN_A,
            "out_order_no": "S-1001",
            "order_id": "3008450740201411",
        },
    )
    fake.reply(
        200,
        {
            "sub_mchid": SUB_A,
            "transaction_id": TXN_A,
            "out_order_no": "S-1001",
            "order_id": "3008450740201411",
            "status": "FINISHED",
            "receivers": [
                {
                    "receiver_mchid": MCHID,
                    "receiver_account": MCHID,
                    "type": "MERCHANT_ID",
                    "amount": 800,
                    "description": "平台佣金",
                    "result": "SUCCESS",
                    "finish_time": "2024-07-02T10:00:00+08:00",
                }
            ],
        },
    )
    fake.reply(404, {"code": "RESOURCE_NOT_EXISTS", "message": "记录不存在"})

    accepted = gw.profit_share_create(
        sub_mchid=SUB_A,
        transaction_id=TXN_A,
        out_order_no="S-1001",
        receivers=[ShareReceiver(account=MCHID, amount_fen=800, description="平台佣金")],
    )
    done = gw.profit_share_query(sub_mchid=SUB_A, transaction_id=TXN_A, out_order_no="S-1001")
    unknown = gw.profit_share_query(sub_mchid=SUB_A, transaction_id=TXN_A, out_order_no="S-none")

    assert accepted.status == PROCESSING
    assert accepted.order_id == "3008450740201411"
    assert done.status == FINISHED
    assert done.shared_fen == 800
    assert unknown is None
    method, path, _, body = sent(fake, 0, merchant_key)
    assert (method, path) == ("POST", "/v3/ecommerce/profitsharing/orders")
    assert body == {
        "appid": APPID,
        "sub_mchid": SUB_A,
        "transaction_id": TXN_A,
        "out_order_no": "S-1001",
        "receivers": [
            {"type": "MERCHANT_ID", "receiver_account": MCHID, "amount": 800, "description": "平台佣金"}
        ],
        "finish": False,
    }
    method, path, query, body = sent(fake, 1, merchant_key)
    assert (method, path, body) == ("GET", "/v3/ecommerce/profitsharing/orders", None)
    assert query == {"sub_mchid": [SUB_A], "transaction_id": [TXN_A], "out_order_no": ["S-1001"]}


@pytest.mark.parametrize(
    ("status", "answer", "retry", "not_settled"),
    [
        (429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"}, True, False),
        (400, {"code": "ORDER_NOT_READY", "message": "订单处理中，暂时无法分账，请稍后重试"}, True, True),
        (400, {"code": "INVALID_REQUEST", "message": "订单处理中，暂时无法分账"}, True, True),
        (500, {"code": "SYSTEM_ERROR", "message": "系统错误"}, True, False),
        (400, {"code": "INVALID_REQUEST", "message": "分账金额超出最大分账比例"}, False, False),
        (403, {"code": "NOT_ENOUGH", "message": "分账金额不足"}, False, False),
    ],
)
def test_share_refusals_say_which_may_be_retried(gw, fake, status, answer, retry, not_settled):
    fake.reply(status, answer)

    with pytest.raises(GatewayError) as caught:
        gw.profit_share_create(
            sub_mchid=SUB_A,
            transaction_id=TXN_A,
            out_order_no="S-1001",
            receivers=[ShareReceiver(account=MCHID, amount_fen=800, description="平台佣金")],
        )

    assert caught.value.wechat_code == answer["code"]
    assert retry_later(caught.value) is retry
    assert is_not_settled(caught.value) is not_settled


def test_network_failure_is_a_retryable_gateway_error(gw, fake):
    fake.fail(requests.ConnectionError("reset"))

    with pytest.raises(GatewayError) as caught:
        gw.profit_share_query(sub_mchid=SUB_A, transaction_id=TXN_A, out_order_no="S-1")
    assert retry_later(caught.value)


def test_return_and_finish(gw, fake, merchant_key):  # noqa: F811
    ret = {
        "sub_mchid": SUB_A,
        "order_id": "3008450740201411",
        "out_order_no": "S-1001",
        "out_return_no": "RT-1",
        "return_mchid": MCHID,
        "amount": 300,
        "return_no": "3008450740201411110007820472",
        "result": "PROCESSING",
        "finish_time": "2024-07-03T10:00:00+08:00",
    }
    fake.reply(200, ret)
    fake.reply(200, {**ret, "result": "SUCCESS"})
    fake.reply(
        200, {"sub_mchid": SUB_A, "transaction_id": TXN_A, "out_order_no": "F-1001", "order_id": "3008451"}
    )
    fake.reply(
        200,
        {
            "sub_mchid": SUB_A,
            "transaction_id": TXN_A,
            "out_order_no": "F-1001",
            "order_id": "3008451",
            "status": "FINISHED",
            "receivers": [],
            "finish_amount": 7200,
            "finish_description": "解冻全部剩余资金",
        },
    )

    started = gw.profit_share_return_create(
        sub_mchid=SUB_A,
        out_order_no="S-1001",
        out_return_no="RT-1",
        return_mchid=MCHID,
        amount_fen=300,
        description="退款回退",
        transaction_id=TXN_A,
    )
    returned = gw.profit_share_return_query(sub_mchid=SUB_A, out_order_no="S-1001", out_return_no="RT-1")
    finishing = gw.profit_share_finish(
        sub_mchid=SUB_A, transaction_id=TXN_A, out_order_no="F-1001", description="完结"
    )
    finished = gw.profit_share_query(sub_mchid=SUB_A, transaction_id=TXN_A, out_order_no="F-1001")

    assert (started.result, returned.result, returned.amount_fen) == (PROCESSING, "SUCCESS", 300)
    assert finishing.status == PROCESSING
    assert (finished.status, finished.finish_amount_fen) == (FINISHED, 7200)
    assert sent(fake, 0, merchant_key)[1:] == (
        "/v3/ecommerce/profitsharing/returnorders",
        {},
        {
            "sub_mchid": SUB_A,
            "out_order_no": "S-1001",
            "out_return_no": "RT-1",
            "return_mchid": MCHID,
            "amount": 300,
            "description": "退款回退",
            "transaction_id": TXN_A,
        },
    )
    assert sent(fake, 1, merchant_key)[1:3] == (
        "/v3/ecommerce/profitsharing/returnorders",
        {"sub_mchid": [SUB_A], "out_order_no": ["S-1001"], "out_return_no": ["RT-1"]},
    )
    assert sent(fake, 2, merchant_key)[1:] == (
        "/v3/ecommerce/profitsharing/finish-order",
        {},
        {"sub_mchid": SUB_A, "transaction_id": TXN_A, "out_order_no": "F-1001", "description": "完结"},
    )


def test_profit_share_notifications_parse(gw, platform_key):  # noqa: F811
    headers, body = notification(SHARE_NOTICE, signer=platform_key, event_type="PROFITSHARING.SUCCESS")

    notice = gw.parse_profit_share_callback(headers=headers, body=body)

    assert (notice.event, notice.out_order_no, notice.receiver_account, notice.amount_fen) == (
        "SUCCESS",
        "S-1001",
        MCHID,
        800,
    )
    headers, body = notification(SHARE_NOTICE, signer=platform_key, event_type="PROFITSHARING.RETURN")
    assert gw.parse_profit_share_callback(headers=headers, body=body).event == "RETURN"
    headers, body = notification(PARTNER_RESOURCE, signer=platform_key)
    with pytest.raises(InvalidCallback):
        gw.parse_profit_share_callback(headers=headers, body=body)


# --- refunds ----------------------------------------------------------------------------


def test_refunds_from_the_merchant_and_advanced_by_the_platform(gw, fake, merchant_key):  # noqa: F811
    answer = {
        "refund_id": "50000000382019052709732678859",
        "out_refund_no": "R-2001",
        "create_time": "2024-07-03T09:00:00+08:00",
        "amount": {"refund": 1990, "payer_refund": 1990, "discount_refund": 0, "currency": "CNY"},
    }
    fake.reply(403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足"})
    fake.reply(
        200,
        {
            **answer,
            "amount": {**answer["amount"], "advance": 1990},
            "refund_account": "REFUND_SOURCE_PARTNER_ADVANCE",
        },
    )
    fake.reply(
        200,
        {
            "refund_id": answer["refund_id"],
            "advance_return_id": "20150806125346",
            "return_amount": 1990,
            "payer_mchid": SUB_B,
            "payer_account": "BASIC",
            "payee_mchid": MCHID,
            "payee_account": "BASIC",
            "result": "SUCCESS",
            "success_time": "2024-07-04T09:00:00+08:00",
        },
    )
    fake.reply(200, {**answer, "out_trade_no": "C2407011200001-2", "status": "SUCCESS"})
    refund = dict(
        sub_mchid=SUB_B,
        out_trade_no="C2407011200001-2",
        out_refund_no="R-2001",
        refund_fen=1990,
        total_fen=1990,
        reason="退货",
    )

    with pytest.raises(GatewayError) as caught:
        gw.refund(**refund)
    advanced = gw.advance_refund(**refund)
    back = gw.advance_return(sub_mchid=SUB_B, refund_id=advanced.refund_id)
    queried = gw.refund_query(sub_mchid=SUB_B, out_refund_no="R-2001")

    assert caught.value.wechat_code == "NOT_ENOUGH"
    assert (advanced.status, advanced.refund_fen, advanced.advance_fen) == (PROCESSING, 1990, 1990)
    assert (back.amount_fen, back.result) == (1990, "SUCCESS")
    assert (queried.status, queried.out_trade_no) == ("SUCCESS", "C2407011200001-2")
    method, path, _, body = sent(fake, 0, merchant_key)
    assert (method, path) == ("POST", "/v3/ecommerce/refunds/apply")
    assert body["sub_mchid"] == SUB_B
    assert body["sp_appid"] == APPID
    assert body["amount"] == {"refund": 1990, "total": 1990, "currency": "CNY"}
    assert "refund_account" not in body
    assert sent(fake, 1, merchant_key)[3]["refund_account"] == "REFUND_SOURCE_PARTNER_ADVANCE"
    assert sent(fake, 2, merchant_key)[1:] == (
        f"/v3/ecommerce/refunds/{answer['refund_id']}/return-advance",
        {},
        {"sub_mchid": SUB_B},
    )
    assert sent(fake, 3, merchant_key)[1:3] == (
        "/v3/ecommerce/refunds/out-refund-no/R-2001",
        {"sub_mchid": [SUB_B]},
    )


def test_refund_notifications_parse(gw, platform_key):  # noqa: F811
    headers, body = notification(REFUND_NOTICE, signer=platform_key, event_type="REFUND.SUCCESS")

    refund = gw.parse_refund_callback(headers=headers, body=body)

    assert (refund.sub_mchid, refund.out_refund_no, refund.status, refund.refund_fen) == (
        SUB_B,
        "R-2001",
        "SUCCESS",
        1990,
    )


# --- bills ------------------------------------------------------------------------------

TRADE_TEXT = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    f"`2024-07-01 12:00:05,`{APPID},`{MCHID},`{SUB_A},`,`{TXN_A},`C2407011200001-1,`{OPENID},`JSAPI,`SUCCESS,"
    "`OTHERS,`CNY,`80.00,`0.00,`0,`0,`0.00,`0.00,`,`,`苹果,`,`0.48000,`0.60%,`80.00,`0.00,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`1,`80.00,`0.00,`0.00,`0.48000,`80.00,`0.00\r\n"
)
FUNDFLOW_TEXT = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
    "资金变更提交申请人,备注,业务凭证号\n"
    f"`2024-07-01 12:00:05,`{TXN_A},`1900000109202407010000001,`交易,`交易,`收入,`80.00,`80.00,`system,`,`\n"
    f"`2024-07-02 10:00:00,`{TXN_A},`1900000109202407020000002,`分账,`分账,`支出,`8.00,`72.00,"
    f"`{MCHID},`,`S-1001\n"
    "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n"
    "`2,`1,`80.00,`1,`8.00\n"
)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - WeChat's bill hash


def test_a_trade_bill_is_applied_for_downloaded_hash_checked_and_parsed(gw, fake, merchant_key):  # noqa: F811
    url = f"{API}/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO"
    fake.reply(200, {"hash_type": "SHA1", "hash_value": sha1(TRADE_TEXT.encode()), "download_url": url})
    fake.reply_file(gzip.compress(TRADE_TEXT.encode()))

    lines = list(gw.bill_download("trade", DAY))

    (detail,) = [line for line in lines if line.section == "detail"]
    assert detail.get("transaction_id") == TXN_A
    assert detail.fen("settlement_total") == 8000
    assert detail.fen("fee") == 48
    method, path, query, _ = sent(fake, 0, merchant_key)
    assert (method, path) == ("GET", "/v3/bill/tradebill")
    assert query == {"bill_date": ["2024-07-01"], "bill_type": ["ALL"], "tar_type": ["GZIP"]}
    download = fake.sent[1]
    assert download.url == url
    signed_request_body(download, merchant_key)  # the download is signed like any call


def test_a_bill_that_does_not_match_its_hash_yields_nothing(gw, fake):
    url = f"{API}/v3/billdownload/file?token=abc"
    fake.reply(200, {"hash_type": "SHA1", "hash_value": sha1(b"something else"), "download_url": url})
    fake.reply_file(gzip.compress(TRADE_TEXT.encode()))
    lines = gw.bill_download("refund", DAY)

    with pytest.raises(GatewayError) as caught:
        next(lines)
    assert caught.value.wechat_code == "BILL_HASH_MISMATCH"


def test_a_bill_not_ready_yet_says_retry_later(gw, fake):
    fake.reply(400, {"code": "STATEMENT_CREATING", "message": "账单生成中"})

    with pytest.raises(GatewayError) as caught:
        gw.bill_download("profitsharing", DAY)
    assert retry_later(caught.value)


def test_a_download_url_off_wechats_host_is_refused_without_sending_our_signature(gw, fake):
    fake.reply(200, {"hash_type": "SHA1", "hash_value": "00", "download_url": "https://evil.example.com/f"})

    with pytest.raises(GatewayError):
        list(gw.bill_download("trade", DAY))
    assert len(fake.sent) == 1


def encrypted_bill(merchant_key, plaintext: bytes) -> tuple[dict, bytes]:  # noqa: F811
    """A secondary merchant's fund-flow bill as WeChat serves it: AES-256-GCM under a fresh key,
    the key RSA-OAEP-encrypted with our merchant public key."""
    key, nonce = secrets.token_bytes(32), secrets.token_hex(6)
    encrypted_key = merchant_key.public_key().encrypt(
        key,
        OAEP(mgf=MGF1(algorithm=SHA1()), algorithm=SHA1(), label=None),  # noqa: S303
    )
    entry = {
        "bill_sequence": 1,
        "download_url": f"{API}/v3/billdownload/file?token=sub",
        "encrypt_key": b64encode(encrypted_key).decode(),
        "hash_type": "SHA1",
        "hash_value": sha1(plaintext),
        "nonce": nonce,
    }
    return entry, AESGCM(key).encrypt(nonce.encode(), plaintext, None)


def test_a_secondary_merchants_fund_flow_bill_is_decrypted_and_checked(gw, fake, merchant_key):  # noqa: F811
    entry, ciphertext = encrypted_bill(merchant_key, FUNDFLOW_TEXT.encode())
    fake.reply(200, {"download_bill_count": 1, "download_bill_list": [entry]})
    fake.reply_file(ciphertext)

    lines = [line for line in gw.bill_download("fundflow", DAY, sub_mchid=SUB_A) if line.section == "detail"]

    assert [
        (line.get("business_name"), line.get("direction"), line.fen("flow_amount")) for line in lines
    ] == [
        ("交易", "收入", 8000),
        ("分账", "支出", 800),
    ]
    assert {line.sub_mchid for line in lines} == {SUB_A}
    _, path, query, _ = sent(fake, 0, merchant_key)
    assert path == "/v3/bill/sub-merchant-fundflowbill"
    assert query == {
        "sub_mchid": [SUB_A],
        "bill_date": ["2024-07-01"],
        "account_type": ["BASIC"],
        "algorithm": ["AEAD_AES_256_GCM"],
    }


def test_a_bill_in_parts_is_decrypted_part_by_part_and_joined_in_sequence(gw, fake, merchant_key):  # noqa: F811
    whole = FUNDFLOW_TEXT.encode()
    cut = whole.index("分账".encode()) + 3  # inside a line, inside a character
    first, first_file = encrypted_bill(merchant_key, whole[:cut])
    second, second_file = encrypted_bill(merchant_key, whole[cut:])
    second = {**second, "bill_sequence": 2, "download_url": f"{API}/v3/billdownload/file?token=sub2"}
    # Listed out of order: the sequence numbers decide.
    fake.reply(200, {"download_bill_count": 2, "download_bill_list": [second, first]})
    fake.reply_file(first_file)
    fake.reply_file(second_file)

    lines = list(gw.bill_download("fundflow", DAY, sub_mchid=SUB_A))

    assert [line.get("business_name") for line in lines if line.section == "detail"] == ["交易", "分账"]
    assert [line.section for line in lines] == ["detail", "detail", "summary"]
    assert [urlsplit(request.url).query for request in fake.sent[1:]] == ["token=sub", "token=sub2"]


def test_an_altered_encrypted_bill_is_refused(gw, fake, merchant_key):  # noqa: F811
    entry, ciphertext = encrypted_bill(merchant_key, FUNDFLOW_TEXT.encode())
    fake.reply(200, {"download_bill_count": 1, "download_bill_list": [entry]})
    fake.reply_file(ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))

    with pytest.raises(GatewayError):
        list(gw.bill_download("fundflow", DAY, sub_mchid=SUB_A))


def test_a_large_downloaded_bill_streams_in_flat_memory(gw, fake):
    rows = 30_000
    header = FUNDFLOW_TEXT.splitlines(keepends=True)[0]
    body = "".join(
        f"`2024-07-01 12:00:00,`{TXN_A},`{i:025d},`交易,`交易,`收入,`1.{i % 100:02d},`{i}.00,`system,`,`\n"
        for i in range(rows)
    )
    text = (
        header + body + "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n`0,`0,`0.00,`0,`0.00\n"
    ).encode()
    url = f"{API}/v3/billdownload/file?token=big"
    fake.reply(200, {"hash_type": "SHA1", "hash_value": sha1(text), "download_url": url})
    fake.reply_file(gzip.compress(text))
    del body

    tracemalloc.start()
    try:
        count = total = 0
        for line in gw.bill_download("fundflow", DAY):
            if line.section == "detail":
                count += 1
                total += line.fen("flow_amount")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == rows
    assert total == sum(100 + i % 100 for i in range(rows))
    assert len(text) > 3 * 1024 * 1024
    assert peak < 1024 * 1024, f"peak {peak} bytes for a {len(text)}-byte bill"


def test_apply_answers_are_verified_like_every_answer(gw, fake, stranger_key):  # noqa: F811
    fake.reply(
        200, {"hash_type": "SHA1", "hash_value": "00", "download_url": f"{API}/x"}, signer=stranger_key
    )

    with pytest.raises(GatewayError):
        gw.bill_download("trade", DAY)


def test_json_bodies_are_what_was_signed(gw, fake, merchant_key):  # noqa: F811
    """The library signs the JSON it sends: what WeChat receives is exactly what was signed."""
    fake.reply(
        200,
        {"sub_mchid": SUB_A, "transaction_id": TXN_A, "subsidy_id": "1", "amount": 1, "result": "SUCCESS"},
    )

    gw.subsidy_create(sub_mchid=SUB_A, transaction_id=TXN_A, amount_fen=1, description="补差 ✓")

    body = signed_request_body(fake.sent[0], merchant_key)
    assert json.loads(fake.sent[0].body)["description"] == body["description"] == "补差 ✓"


# --- no field of a callback makes a 500 -------------------------------------------------

ODD_VALUES = (None, "", 0, -1, 1.5, True, [], {}, "x", [1], {"a": 1})


def _variants(resource: dict, path=()):
    """The resource with one field (at any depth) replaced by each odd value, or removed."""
    for key, value in resource.items():
        for odd in ODD_VALUES:
            yield _replaced(resource, (*path, key), odd)
        yield _replaced(resource, (*path, key), _MISSING)
        if isinstance(value, dict):
            for variant in _variants(value, ()):
                yield _replaced(resource, (*path, key), variant)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for variant in _variants(value[0], ()):
                yield _replaced(resource, (*path, key), [variant, *value[1:]])


_MISSING = object()


def _replaced(resource: dict, path: tuple, value) -> dict:
    out = dict(resource)
    if value is _MISSING:
        out.pop(path[0], None)
    else:
        out[path[0]] = value
    return out


@pytest.mark.parametrize(
    ("method", "resource", "event_type"),
    [
        ("parse_payment_callback", COMBINE_RESOURCE, "TRANSACTION.SUCCESS"),
        ("parse_payment_callback", PARTNER_RESOURCE, "TRANSACTION.SUCCESS"),
        ("parse_profit_share_callback", SHARE_NOTICE, "PROFITSHARING.SUCCESS"),
        ("parse_refund_callback", REFUND_NOTICE, "REFUND.SUCCESS"),
    ],
)
def test_odd_fields_in_signed_callbacks_are_invalid_callbacks_never_errors(
    gw,
    platform_key,  # noqa: F811
    method,
    resource,
    event_type,
):
    parse = getattr(gw, method)
    checked = 0
    for variant in _variants(resource):
        headers, body = notification(variant, signer=platform_key, event_type=event_type)
        with contextlib.suppress(InvalidCallback):
            parse(headers=headers, body=body)
        checked += 1
    assert checked > 50

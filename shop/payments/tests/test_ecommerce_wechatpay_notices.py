"""The WeChat Pay e-commerce adapter's refund and profit-sharing notifications through our
endpoints, against real cryptography: notifications built exactly as WeChat builds them
(AES-256-GCM resource under the APIv3 key, SHA256-RSA signature by the platform key; see
``test_wechatpay.notification``), and the notify URLs our requests name."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from shop.ledger.models import Transaction
from shop.payments.api.views import EcommerceProfitSharingNotifyApi, EcommerceRefundNotifyApi
from shop.payments.gateways.ecommerce_wechatpay import WechatPayEcommerceGateway
from shop.payments.models import FundsStep, Payment, PaymentPart, Refund
from shop.payments.refunds import refund_request
from shop.payments.steps import STEP_CONFIRMED, STEPS_CONFIRMED
from shop.testing.asserts import assert_error

from .helpers import REFUND_PURPOSE, REVENUE, make_paid_payment, refund_events
from .test_ecommerce_wechatpay import REFUND_NOTICE, SHARE_NOTICE, SUB_A, TXN_A, fake, sent  # noqa: F401
from .test_wechatpay import (  # noqa: F401 - fixtures
    MCHID,
    merchant_key,
    notification,
    platform_key,
    stranger_key,
    wechatpay_settings,
)

pytestmark = pytest.mark.django_db
HOST = "https://shop.example.com"
REFUND_PATH = "/api/v1/payments/wechatpay/ecommerce-refund-notify"
SHARE_PATH = "/api/v1/payments/wechatpay/ecommerce-profit-sharing-notify"


def _post(path: str, headers: dict[str, str], body: bytes):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return APIClient().post(path, data=body, content_type="application/json", **extra)


@pytest.fixture
def part(wechatpay_settings) -> PaymentPart:  # noqa: F811
    """A paid shared partner payment of the wechatpay gateway: one part, SUB_A's."""
    payment = make_paid_payment(gateway="wechatpay", amount_fen=1_990)
    Payment.objects.filter(pk=payment.pk).update(funds=Payment.Funds.SHARED)
    return PaymentPart.objects.create(
        payment=payment,
        order_id=9001,
        merchant_id=77,
        sub_mchid=SUB_A,
        out_trade_no=payment.out_trade_no,
        amount_fen=1_990,
        transaction_id=TXN_A,
    )


# --- where WeChat is told to send them ------------------------------------------------------


def test_refund_requests_name_our_ecommerce_refund_endpoint(wechatpay_settings, fake, merchant_key):  # noqa: F811
    gw = WechatPayEcommerceGateway.from_settings()
    fake.reply(200, {"refund_id": "5000001", "out_refund_no": "RF1", "amount": {"refund": 100}})

    gw.refund(
        sub_mchid=SUB_A, out_trade_no="P1", out_refund_no="RF1", refund_fen=100, total_fen=990, reason=""
    )

    body = sent(fake, 0, merchant_key)[3]
    assert body["notify_url"] == HOST + REFUND_PATH
    assert resolve(urlsplit(body["notify_url"]).path).func.view_class is EcommerceRefundNotifyApi


def test_the_profit_sharing_url_to_configure_is_our_endpoint(wechatpay_settings):  # noqa: F811
    # WeChat's share request has no notify_url: ops set this one on the merchant platform.
    url = WechatPayEcommerceGateway.from_settings().profit_share_notify_url

    assert url == HOST + SHARE_PATH
    assert resolve(urlsplit(url).path).func.view_class is EcommerceProfitSharingNotifyApi


def test_explicit_ecommerce_notify_urls_win(wechatpay_settings, fake, merchant_key):  # noqa: F811
    wechatpay_settings.WECHATPAY = {
        **wechatpay_settings.WECHATPAY,
        "ECOMMERCE_REFUND_NOTIFY_URL": "https://pay.example.com/r",
        "ECOMMERCE_PROFIT_SHARING_NOTIFY_URL": "https://pay.example.com/s",
    }
    gw = WechatPayEcommerceGateway.from_settings()
    fake.reply(200, {"refund_id": "5000001", "out_refund_no": "RF1", "amount": {"refund": 100}})

    gw.refund(
        sub_mchid=SUB_A, out_trade_no="P1", out_refund_no="RF1", refund_fen=100, total_fen=990, reason=""
    )

    assert sent(fake, 0, merchant_key)[3]["notify_url"] == "https://pay.example.com/r"
    assert gw.profit_share_notify_url == "https://pay.example.com/s"


# --- refunds --------------------------------------------------------------------------------


def _refund(part: PaymentPart, amount_fen: int = 700) -> Refund:
    refund = refund_request(
        payment_id=part.payment_id,
        amount_fen=amount_fen,
        purpose=REFUND_PURPOSE,
        ref_id=None,
        reason="破损",
        key=f"wechat-refund-{amount_fen}",
        debits=[(REVENUE, amount_fen)],
        order_id=part.order_id,
    )
    Refund.objects.filter(pk=refund.pk).update(status=Refund.Status.PROCESSING)  # WeChat accepted it
    return Refund.objects.get(pk=refund.pk)


def _refund_resource(part: PaymentPart, refund: Refund, **changes) -> dict:
    return {
        **REFUND_NOTICE,
        "sub_mchid": part.sub_mchid,
        "transaction_id": part.transaction_id,
        "out_trade_no": part.out_trade_no,
        "out_refund_no": refund.out_refund_no,
        "amount": {"total": 1_990, "refund": refund.amount_fen, "payer_total": 1_990, "payer_refund": 700},
        "refund_account": "REFUND_SOURCE_SUB_MERCHANT",
        **changes,
    }


def test_a_wechat_refund_notice_settles_the_refund_once(part, platform_key):  # noqa: F811
    refund = _refund(part)
    headers, body = notification(
        _refund_resource(part, refund), signer=platform_key, event_type="REFUND.SUCCESS"
    )

    answers = [_post(REFUND_PATH, headers, body) for _ in range(2)]

    assert [(a.status_code, a.json()) for a in answers] == [(200, {"code": "SUCCESS"})] * 2
    refund.refresh_from_db()
    assert (refund.status, refund.gateway_refund_id, refund.advance_fen) == (
        Refund.Status.SUCCEEDED,
        REFUND_NOTICE["refund_id"],
        0,
    )
    assert Transaction.objects.filter(idempotency_key=f"refund:{refund.pk}:succeeded").count() == 1
    assert refund_events == [("succeeded", refund.pk)]


def test_a_wechat_refund_notice_of_an_advanced_refund_records_the_advance(part, platform_key):  # noqa: F811
    refund = _refund(part)
    resource = _refund_resource(part, refund, refund_account="REFUND_SOURCE_PARTNER_ADVANCE")
    headers, body = notification(resource, signer=platform_key, event_type="REFUND.SUCCESS")

    assert _post(REFUND_PATH, headers, body).status_code == 200

    refund.refresh_from_db()
    assert (refund.status, refund.advance_fen) == (Refund.Status.SUCCEEDED, 700)


def test_a_wechat_refund_closed_notice_fails_the_refund(part, platform_key):  # noqa: F811
    refund = _refund(part)
    resource = _refund_resource(part, refund, refund_status="CLOSED")
    headers, body = notification(resource, signer=platform_key, event_type="REFUND.CLOSED")

    assert _post(REFUND_PATH, headers, body).status_code == 200

    refund.refresh_from_db()
    assert (refund.status, refund.failure_kind) == (Refund.Status.FAILED, Refund.FailureKind.CLOSED)


def test_wechat_refund_notices_forged_unknown_or_not_ours_write_nothing(part, platform_key, stranger_key):  # noqa: F811
    refund = _refund(part)
    resource = _refund_resource(part, refund)

    forged = notification(resource, signer=stranger_key, event_type="REFUND.SUCCESS")
    assert_error(_post(REFUND_PATH, *forged), 401, "invalid_callback")
    share = notification(resource, signer=platform_key, event_type="PROFITSHARING.SUCCESS")
    assert_error(_post(REFUND_PATH, *share), 401, "invalid_callback")  # not a refund notice
    unknown = notification(
        {**resource, "out_refund_no": "RF404"}, signer=platform_key, event_type="REFUND.SUCCESS"
    )
    assert_error(_post(REFUND_PATH, *unknown), 404, "not_found")
    other = notification(
        {**resource, "sub_mchid": "1600000009"}, signer=platform_key, event_type="REFUND.SUCCESS"
    )
    assert_error(_post(REFUND_PATH, *other), 409, "refund_callback_mismatch")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PROCESSING
    assert refund_events == []


# --- profit sharing -------------------------------------------------------------------------


@pytest.fixture
def share_step(part) -> FundsStep:
    return FundsStep.objects.create(
        kind=FundsStep.Kind.SHARE,
        status=FundsStep.Status.PROCESSING,
        part=part,
        order_id=part.order_id,
        merchant_id=part.merchant_id,
        out_no=f"S{part.order_id}",
        amount_fen=210,
        commission_fen=199,
        fee_fen=11,
    )


@pytest.fixture
def confirmed_steps():
    """The share kind's confirmation handler, recorded instead of settling (rebates' job)."""
    seen: list[int] = []
    with (
        STEP_CONFIRMED.override(FundsStep.Kind.SHARE, lambda step: seen.append(step.pk)),
        STEPS_CONFIRMED.override(FundsStep.Kind.SHARE, lambda steps: seen.extend(s.pk for s in steps)),
    ):
        yield seen


def _share_resource(step: FundsStep, **receiver) -> dict:
    return {
        **SHARE_NOTICE,
        "sub_mchid": step.part.sub_mchid,
        "transaction_id": step.part.transaction_id,
        "out_order_no": step.out_no,
        "receiver": {**SHARE_NOTICE["receiver"], "account": MCHID, "amount": step.amount_fen, **receiver},
    }


def test_a_wechat_share_notice_confirms_the_share_once(share_step, platform_key, confirmed_steps):  # noqa: F811
    headers, body = notification(
        _share_resource(share_step), signer=platform_key, event_type="PROFITSHARING.SUCCESS"
    )

    answers = [_post(SHARE_PATH, headers, body) for _ in range(3)]

    assert [(a.status_code, a.json()) for a in answers] == [(200, {"code": "SUCCESS"})] * 3
    share_step.refresh_from_db()
    assert (share_step.status, share_step.gateway_id) == (
        FundsStep.Status.CONFIRMED,
        SHARE_NOTICE["order_id"],
    )
    assert confirmed_steps == [share_step.pk]  # the money was posted once


def test_wechat_share_notices_forged_or_not_matching_write_nothing(
    share_step,
    platform_key,  # noqa: F811
    stranger_key,  # noqa: F811
    confirmed_steps,
):
    good = _share_resource(share_step)

    forged = notification(good, signer=stranger_key, event_type="PROFITSHARING.SUCCESS")
    assert_error(_post(SHARE_PATH, *forged), 401, "invalid_callback")
    as_return = notification(good, signer=platform_key, event_type="PROFITSHARING.RETURN")
    assert_error(_post(SHARE_PATH, *as_return), 409, "share_callback_mismatch")
    less = notification(
        _share_resource(share_step, amount=209), signer=platform_key, event_type="PROFITSHARING.SUCCESS"
    )
    assert_error(_post(SHARE_PATH, *less), 409, "share_callback_mismatch")
    huge = notification(
        _share_resource(share_step, amount=2**63), signer=platform_key, event_type="PROFITSHARING.SUCCESS"
    )
    assert_error(_post(SHARE_PATH, *huge), 401, "invalid_callback")
    unknown = notification(
        {**good, "out_order_no": "S404"}, signer=platform_key, event_type="PROFITSHARING.SUCCESS"
    )
    assert_error(_post(SHARE_PATH, *unknown), 404, "not_found")
    share_step.refresh_from_db()
    assert share_step.status == FundsStep.Status.PROCESSING
    assert confirmed_steps == []

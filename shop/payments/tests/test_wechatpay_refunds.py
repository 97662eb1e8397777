"""The refund pipeline through the real WeChat Pay adapter, offline: requests answered by
the fake WeChat transport, callbacks signed with RSA and encrypted with AES-GCM as WeChat does."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from shop.ledger.models import Transaction
from shop.payments.models import Payment, Refund
from shop.payments.refunds import refund_request, refund_send
from shop.testing.asserts import assert_error

from .helpers import REFUND_PURPOSE, REVENUE, make_payer, refund_events
from .test_wechatpay import (  # noqa: F401 - fixtures
    OUT_TRADE_NO,
    REFUND_RESOURCE,
    TRANSACTION_ID,
    fake_wechat,
    gateway,
    merchant_key,
    notification,
    platform_key,
    stranger_key,
    wechatpay_settings,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def refund(wechatpay_settings) -> Refund:  # noqa: F811
    payment = Payment.objects.create(
        purpose="test_goods",
        payer=make_payer(),
        amount_fen=1_990,
        gateway="wechatpay",
        status=Payment.Status.SUCCEEDED,
        out_trade_no=OUT_TRADE_NO,
        gateway_txn_id=TRANSACTION_ID,
        description="抽纸",
        paid_at=timezone.now(),
    )
    return refund_request(
        payment_id=payment.pk,
        amount_fen=990,
        purpose=REFUND_PURPOSE,
        ref_id=None,
        reason="售后退款",
        key="after-sales:9",
        debits=[(REVENUE, 990)],
    )


def _post(headers: dict, body: bytes):
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return APIClient().post(
        "/api/v1/payments/wechatpay/refund-notify", data=body, content_type="application/json", **meta
    )


def _callback(refund: Refund, *, signer, status: str = "SUCCESS"):
    resource = {**REFUND_RESOURCE, "out_refund_no": refund.out_refund_no, "refund_status": status}
    return notification(resource, signer=signer, event_type=f"REFUND.{status}")


def test_accepted_then_notified_refund_settles_once(refund, fake_wechat, platform_key, stranger_key):  # noqa: F811
    fake_wechat.reply(200, {"refund_id": "50000000382019052709732678859", "status": "PROCESSING"})
    refund = refund_send(refund_id=refund.pk)
    assert refund.status == Refund.Status.PROCESSING

    forged = _callback(refund, signer=stranger_key)
    before = Transaction.objects.count()
    assert_error(_post(*forged), 401, "invalid_callback")
    assert Transaction.objects.count() == before

    headers, body = _callback(refund, signer=platform_key)
    assert [_post(headers, body).json() for _ in range(2)] == [{"code": "SUCCESS"}] * 2

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.gateway_refund_id == "50000000382019052709732678859"
    assert Transaction.objects.count() == before + 1
    assert refund_events == [("succeeded", refund.pk)]
    call_command("ledger_check")


def test_an_abnormal_refund_notification_puts_it_in_the_ops_queue(refund, fake_wechat, platform_key):  # noqa: F811
    fake_wechat.reply(200, {"refund_id": "50000000382019052709732678859", "status": "PROCESSING"})
    refund_send(refund_id=refund.pk)

    assert _post(*_callback(refund, signer=platform_key, status="ABNORMAL")).status_code == 200

    refund.refresh_from_db()
    assert (refund.status, refund.failure_kind) == (Refund.Status.FAILED, Refund.FailureKind.ABNORMAL)
    assert refund_events == [("failed", refund.pk)]


def test_wechat_refusing_the_refund_fails_it_for_ops(refund, fake_wechat):  # noqa: F811
    fake_wechat.reply(403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足"})

    refund = refund_send(refund_id=refund.pk)

    assert (refund.status, refund.failure_kind) == (Refund.Status.FAILED, Refund.FailureKind.REFUSED)
    assert "NOT_ENOUGH" in refund.failure_reason

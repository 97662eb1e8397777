"""Payments without a callback, closing at the gateway, anomalies refunded, shipping upload."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from shop.ledger.models import Transaction
from shop.ledger.selectors import account_balance
from shop.payments.errors import PaymentNotPaid
from shop.payments.gateways.base import GatewayError, PaymentResult
from shop.payments.gateways.sandbox import SIGNATURE_HEADER, SandboxGateway, _sign
from shop.payments.models import Payment, PaymentAnomaly, Refund
from shop.payments.refunds import ANOMALY_PURPOSE
from shop.payments.services import (
    Applied,
    Closed,
    payment_apply_result,
    payment_close,
    payment_close_at_gateway,
    payment_upload_shipping,
    payments_query_sweep,
)
from shop.payments.tasks import payment_close_at_gateway_task, payment_upload_shipping_task

from .helpers import (
    GATEWAY_CLEARING,
    REFUND_CLEARING,
    REVENUE,
    make_paid_payment,
    make_payment,
    refused,
    timeout,
)

pytestmark = pytest.mark.django_db
HEADER = f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}"


def _books() -> tuple[int, int, int]:
    return (
        account_balance(ref=REVENUE),
        account_balance(ref=REFUND_CLEARING),
        account_balance(ref=GATEWAY_CLEARING),
    )


def _result(payment: Payment, amount_fen: int | None = None, txn: str = "4200000001") -> PaymentResult:
    return PaymentResult(
        payment.out_trade_no, txn, payment.amount_fen if amount_fen is None else amount_fen, True
    )


# --- anomalies ----------------------------------------------------------------------


def _mismatched_callback(payment: Payment, *, amount_fen: int) -> tuple[dict, bytes]:
    """The sandbox 'bank' reports another amount than we asked for, signed."""
    body = json.dumps(
        {
            "out_trade_no": payment.out_trade_no,
            "transaction_id": "4200000555",
            "amount_fen": amount_fen,
            "trade_state": "SUCCESS",
        },
        separators=(",", ":"),
    ).encode()
    return {SIGNATURE_HEADER: _sign(body)}, body


def _notify(headers: dict, body: bytes):
    return APIClient().post(
        "/api/v1/payments/sandbox/notify",
        data=body,
        content_type="application/json",
        **{HEADER: headers[SIGNATURE_HEADER]},
    )


def test_an_amount_mismatch_is_booked_and_refunded_in_full_once_and_pays_nothing(
    django_capture_on_commit_callbacks,
):
    payment = make_payment(amount_fen=1_990)

    with django_capture_on_commit_callbacks(execute=True):
        callback = _mismatched_callback(payment, amount_fen=1)
        answers = [_notify(*callback) for _ in range(3)]  # WeChat repeats it

    assert [a.status_code for a in answers] == [200, 200, 200]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CREATED
    anomaly = PaymentAnomaly.objects.get()
    assert (anomaly.kind, anomaly.reported_amount_fen, anomaly.is_resolved) == (
        PaymentAnomaly.Kind.AMOUNT_MISMATCH,
        1,
        True,
    )
    refund = Refund.objects.get()
    assert anomaly.refund == refund
    assert (refund.purpose, refund.ref_id, refund.amount_fen, refund.total_fen, refund.status) == (
        ANOMALY_PURPOSE,
        anomaly.pk,
        1,
        1,
        Refund.Status.SUCCEEDED,
    )
    assert _books() == (0, 0, 0)  # in and straight back out
    assert not Transaction.objects.filter(idempotency_key=f"payment:{payment.pk}:received").exists()
    call_command("ledger_check")


def test_a_payment_after_close_is_refunded_in_full(django_capture_on_commit_callbacks):
    payment = make_payment(amount_fen=1_990)
    payment_close(payment_id=payment.pk)
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    result = gateway.parse_payment_callback(headers=headers, body=body)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert payment_apply_result(gateway="sandbox", result=result) == Applied.ANOMALY
        assert payment_apply_result(gateway="sandbox", result=result) == Applied.ANOMALY

    refund = Refund.objects.get()
    assert (refund.amount_fen, refund.total_fen, refund.status) == (1_990, 1_990, Refund.Status.PENDING)
    assert _books() == (0, 1_990, -1_990)  # the money arrived and is owed back
    assert len(callbacks) == 1
    callbacks[0]()
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert _books() == (0, 0, 0)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CLOSED
    call_command("ledger_check")


# --- payments whose callback never came ---------------------------------------------


def test_the_sweeper_queries_payments_unpaid_after_three_minutes_and_applies_them_once(fake):
    paid = make_payment(gateway="fakepay", amount_fen=1_990)
    unpaid = make_payment(gateway="fakepay", payer=paid.payer, amount_fen=500)
    fake.paid[paid.out_trade_no] = _result(paid)
    start = paid.created_at

    assert payments_query_sweep(start + timedelta(minutes=2)) == 0
    assert fake.calls_of("query") == []

    assert payments_query_sweep(start + timedelta(minutes=3, seconds=1)) == 1

    paid.refresh_from_db()
    unpaid.refresh_from_db()
    assert (paid.status, paid.gateway_txn_id) == (Payment.Status.SUCCEEDED, "4200000001")
    assert unpaid.status == Payment.Status.CREATED
    assert _books() == (1_990, 0, -1_990)
    assert sorted(c["out_trade_no"] for c in fake.calls_of("query")) == sorted(
        [paid.out_trade_no, unpaid.out_trade_no]
    )
    # the next tick asks only about the one still unpaid
    assert payments_query_sweep(start + timedelta(minutes=4)) == 0
    assert [c["out_trade_no"] for c in fake.calls_of("query")][-1] == unpaid.out_trade_no
    assert len(fake.calls_of("query")) == 3
    call_command("ledger_check")


def test_a_gateway_that_cannot_be_asked_is_skipped_and_asked_again_next_tick(fake):
    payment = make_payment(gateway="fakepay")
    fake.will("query", timeout())
    fake.paid[payment.out_trade_no] = _result(payment)
    later = payment.created_at + timedelta(minutes=5)

    assert payments_query_sweep(later) == 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CREATED
    assert payments_query_sweep(later + timedelta(minutes=1)) == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


# --- closing at the gateway ---------------------------------------------------------


def test_closing_a_payment_closes_it_at_the_gateway_after_commit(fake, django_capture_on_commit_callbacks):
    payment = make_payment(gateway="fakepay")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payment_close(payment_id=payment.pk)
        payment_close(payment_id=payment.pk)  # a no-op, nothing more enqueued
    assert fake.calls_of("close") == []  # nothing under the caller's lock
    assert len(callbacks) == 1
    callbacks[0]()

    assert fake.calls_of("close") == [{"out_trade_no": payment.out_trade_no}]
    assert payment_close_at_gateway(payment_id=payment.pk) == Closed.CLOSED  # idempotent


def test_paid_meanwhile_at_close_is_queried_and_refunded(fake, django_capture_on_commit_callbacks):
    payment = make_payment(gateway="fakepay", amount_fen=1_990)
    fake.will("close", GatewayError("HTTP 400 ORDERPAID", status=400, wechat_code="ORDERPAID"))
    fake.paid[payment.out_trade_no] = _result(payment, txn="4200000099")

    with django_capture_on_commit_callbacks(execute=True):
        payment_close(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.CLOSED
    anomaly = PaymentAnomaly.objects.get()
    assert (anomaly.kind, anomaly.gateway_txn_id) == (PaymentAnomaly.Kind.PAID_AFTER_CLOSE, "4200000099")
    assert anomaly.refund.status == Refund.Status.SUCCEEDED
    assert anomaly.refund.amount_fen == 1_990
    assert _books() == (0, 0, 0)
    call_command("ledger_check")


@pytest.fixture
def eager_retries(monkeypatch):
    """Run tasks eagerly as a worker would: a retry re-runs at once instead of raising."""
    monkeypatch.setitem(payment_close_at_gateway_task.app.conf, "task_eager_propagates", False)


def test_closing_retries_transient_errors_and_gives_up_on_a_refusal(fake, eager_retries):
    payment = make_payment(gateway="fakepay")
    payment_close(payment_id=payment.pk)
    fake.will("close", timeout(), refused(503, "SYSTEM_ERROR"))

    outcome = payment_close_at_gateway_task.apply(args=[payment.pk])

    assert outcome.successful()
    assert len(fake.calls_of("close")) == 3
    fake.will("close", refused(400, "PARAM_ERROR"))
    assert payment_close_at_gateway(payment_id=payment.pk) == Closed.REFUSED
    assert (
        payment_close_at_gateway(payment_id=make_paid_payment(payer=payment.payer).pk)
        == Closed.NOT_CLOSED_HERE
    )


# --- shipping info ------------------------------------------------------------------


def test_shipping_info_is_uploaded_with_the_payers_openid(fake):
    payment = make_payment(gateway="fakepay")
    with pytest.raises(PaymentNotPaid):
        payment_upload_shipping(payment_id=payment.pk, carrier="ZTO", tracking_no="ZT1", item_desc="抽纸")
    assert fake.calls_of("upload_shipping_info") == []
    fake.paid[payment.out_trade_no] = _result(payment, txn="4200000007")
    payments_query_sweep(payment.created_at + timedelta(minutes=4))

    payment_upload_shipping(payment_id=payment.pk, carrier="ZTO", tracking_no="ZT1", item_desc="抽纸 x2")

    assert fake.calls_of("upload_shipping_info") == [
        {
            "transaction_id": "4200000007",
            "openid": payment.payer.openid,
            "carrier": "ZTO",
            "tracking_no": "ZT1",
            "item_desc": "抽纸 x2",
            "pickup": False,
        }
    ]


def test_the_shipping_task_retries_gateway_errors(fake, eager_retries):
    payment = make_payment(gateway="fakepay")
    fake.paid[payment.out_trade_no] = _result(payment)
    payments_query_sweep(payment.created_at + timedelta(minutes=4))
    fake.will("upload_shipping_info", timeout(), refused(500, "SYSTEM_ERROR"))

    outcome = payment_upload_shipping_task.apply(args=[payment.pk, "SF", "SF100", "纸巾"])

    assert outcome.successful()
    assert len(fake.calls_of("upload_shipping_info")) == 3

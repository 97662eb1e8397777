"""``POST /payments/{gateway}/refund-notify``: the signature is the auth; applied once."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from shop.ledger.models import Transaction
from shop.payments.gateways.sandbox import SIGNATURE_HEADER, SandboxGateway
from shop.payments.models import Refund
from shop.payments.refunds import refund_request, refund_send
from shop.testing.asserts import assert_error

from .helpers import REFUND_PURPOSE, REVENUE, make_paid_payment, refund_events

pytestmark = pytest.mark.django_db
HEADER = f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}"


@pytest.fixture
def processing(fake):
    """A refund the fake gateway accepted and is still working on."""
    payment = make_paid_payment(gateway="fakepay", amount_fen=1_990)
    fake.will("refund", {"status": "PROCESSING"})
    refund = refund_request(
        payment_id=payment.pk,
        amount_fen=700,
        purpose=REFUND_PURPOSE,
        ref_id=None,
        reason="仅退款",
        key="after-sales:1",
        debits=[(REVENUE, 700)],
    )
    refund = refund_send(refund_id=refund.pk)
    assert refund.status == Refund.Status.PROCESSING
    return refund


def _notify(headers: dict, body: bytes, gateway: str = "fakepay"):
    return APIClient().post(
        f"/api/v1/payments/{gateway}/refund-notify",
        data=body,
        content_type="application/json",
        **{HEADER: headers.get(SIGNATURE_HEADER, "")},
    )


def _callback(refund: Refund, *, status: str = "SUCCESS", refund_fen: int | None = None):
    return SandboxGateway().build_refund_callback(
        out_trade_no=refund.payment.out_trade_no,
        out_refund_no=refund.out_refund_no,
        refund_fen=refund.amount_fen if refund_fen is None else refund_fen,
        status=status,
    )


def _state(refund: Refund):
    refund.refresh_from_db()
    return refund.status, refund.failure_kind, Transaction.objects.count()


def test_a_success_callback_settles_the_refund_once_and_duplicates_answer_success(processing):
    headers, body = _callback(processing)

    answers = [_notify(headers, body) for _ in range(3)]  # WeChat retries

    assert [(a.status_code, a.json()) for a in answers] == [(200, {"code": "SUCCESS"})] * 3
    processing.refresh_from_db()
    assert processing.status == Refund.Status.SUCCEEDED
    assert processing.gateway_refund_id == f"sandbox-refund-{processing.out_refund_no}"
    assert Transaction.objects.filter(idempotency_key=f"refund:{processing.pk}:succeeded").count() == 1
    assert refund_events == [("succeeded", processing.pk)]
    call_command("ledger_check")


def test_a_closed_callback_fails_it_and_a_later_success_changes_nothing(processing):
    assert _notify(*_callback(processing, status="CLOSED")).status_code == 200
    before = _state(processing)
    assert before[:2] == (Refund.Status.FAILED, Refund.FailureKind.CLOSED)

    assert _notify(*_callback(processing, status="SUCCESS")).status_code == 200

    assert _state(processing) == before
    call_command("ledger_check")


def test_a_forged_callback_is_401_and_writes_nothing(processing):
    headers, body = _callback(processing)
    forged = json.dumps({**json.loads(body), "status": "SUCCESS", "refund_fen": 1}).encode()
    before = _state(processing)

    assert_error(_notify(headers, forged), 401, "invalid_callback")
    assert_error(_notify({}, body), 401, "invalid_callback")
    assert_error(_notify({SIGNATURE_HEADER: "00" * 32}, body), 401, "invalid_callback")

    assert _state(processing) == before


def test_an_unknown_refund_is_404_and_writes_nothing(processing):
    headers, body = SandboxGateway().build_refund_callback(
        out_trade_no=processing.payment.out_trade_no, out_refund_no="RFNOSUCHREFUND01", refund_fen=700
    )
    before = _state(processing)

    assert_error(_notify(headers, body), 404, "not_found")

    assert _state(processing) == before


def test_a_callback_through_another_gateway_or_of_another_amount_is_refused(processing):
    before = _state(processing)

    # signed by the sandbox for a fakepay refund: the wrong gateway may not settle it
    assert_error(_notify(*_callback(processing), gateway="sandbox"), 409, "refund_callback_mismatch")
    assert_error(_notify(*_callback(processing, refund_fen=1)), 409, "refund_callback_mismatch")
    assert_error(_notify(*_callback(processing), gateway="alipay"), 404, "not_found")

    assert _state(processing) == before

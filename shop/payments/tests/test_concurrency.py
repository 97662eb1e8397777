"""A verified payment callback is applied exactly once, however many copies arrive at once.

WeChat retries a callback for 24 h and may deliver copies in parallel; each copy must be
answered with success and only one may mark the payment paid, post the receipt and call
the purpose's handler. These tests stay inside ``shop`` (the import-linter layers forbid
``shop`` to import the apps above it), so the payment's purpose is a test purpose whose
handler posts the receipt as a real one does; the same race through an order checkout,
with its accruals and store figures, is in ``tests/test_payment_callback_concurrency.py``.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.gateways.sandbox import SandboxGateway
from shop.payments.models import Payment, PaymentAnomaly
from shop.payments.registry import PAYMENT_PURPOSES
from shop.payments.services import Applied, payment_apply_result, payment_create, payment_post_receipt
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

PURPOSE = "test_concurrent_callbacks"
COPIES = 10
_handled: list[int] = []
_handled_lock = threading.Lock()


def _on_succeeded(payment: Payment) -> None:
    """What a purpose's handler does: book the money it brought in (and note the call)."""
    payment_post_receipt(
        payment=payment,
        credits=[(AccountRef.platform(Account.Kind.PLATFORM_REVENUE), payment.amount_fen)],
        kind="test_receipt",
    )
    with _handled_lock:
        _handled.append(payment.pk)


@pytest.fixture
def payment():
    _handled.clear()
    with PAYMENT_PURPOSES.override(PURPOSE, _on_succeeded):
        payer = get_user_model().objects.create(username="payer", openid="openid-payer")
        yield payment_create(
            purpose=PURPOSE, payer_id=payer.pk, amount_fen=1_990, gateway="sandbox", description="抽纸"
        )


def _assert_paid_once(payment: Payment, *, transaction_id: str) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.gateway_txn_id == transaction_id
    assert _handled == [payment.pk]
    receipts = Transaction.objects.filter(ref_type="payment", ref_id=payment.pk)
    assert list(receipts.values_list("idempotency_key", flat=True)) == [f"payment:{payment.pk}:received"]
    assert receipts.get().entries.count() == 2
    assert account_balance(ref=AccountRef.platform(Account.Kind.PLATFORM_REVENUE)) == 1_990
    assert account_balance(ref=AccountRef.platform(Account.Kind.GATEWAY_CLEARING)) == -1_990
    assert not PaymentAnomaly.objects.exists()
    call_command("ledger_check")


def test_ten_copies_of_one_callback_applied_at_once_pay_once(payment):
    # given one signed success callback, verified once
    gateway = SandboxGateway()
    headers, body = gateway.build_success_callback(payment)
    result = gateway.parse_payment_callback(headers=headers, body=body)

    # when ten copies are applied at once
    outcomes = run_concurrently(
        lambda i: payment_apply_result(gateway="sandbox", result=result), times=COPIES
    )

    # then one applied it and the nine others were told it was a duplicate
    assert sorted(outcomes) == sorted([Applied.APPLIED] + [Applied.DUPLICATE] * (COPIES - 1)), outcomes
    _assert_paid_once(payment, transaction_id=result.transaction_id)


def test_ten_copies_of_one_callback_posted_to_the_notify_endpoint_at_once_pay_once(payment):
    # given the exact bytes the sandbox 'bank' signed, sent ten times (a retrying gateway)
    headers, body = SandboxGateway().build_success_callback(payment)
    transaction_id = SandboxGateway().parse_payment_callback(headers=headers, body=body).transaction_id
    http_headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}

    def deliver(i: int):
        response = APIClient().post(
            "/api/v1/payments/sandbox/notify", data=body, content_type="application/json", **http_headers
        )
        return response.status_code, response.json()

    # when all ten arrive at once
    answers = run_concurrently(deliver, times=COPIES)

    # then every copy is answered with success (so the gateway stops retrying) ...
    assert answers == [(200, {"code": "SUCCESS"})] * COPIES
    # ... and the payment was applied once
    _assert_paid_once(payment, transaction_id=transaction_id)

"""The refund pipeline: request (cap, idempotency, ledger), send, apply, resend, sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from shop.errors import ValidationFailed
from shop.ledger.models import Transaction
from shop.ledger.selectors import account_balance
from shop.payments.errors import (
    PaymentNotRefundable,
    RefundExceedsPayment,
    RefundKeyReused,
    RefundNotResendable,
)
from shop.payments.models import Refund, RetiredRefundNumber
from shop.payments.refunds import refund_apply, refund_request, refund_resend, refund_send, refunds_sweep

from .helpers import (
    GATEWAY_CLEARING,
    REFUND_CLEARING,
    REFUND_PURPOSE,
    REVENUE,
    make_paid_payment,
    make_payment,
    refund_events,
    refused,
    timeout,
)

pytestmark = pytest.mark.django_db


def _request(payment, amount_fen: int, *, key: str = "k1", ref_id: int | None = 7) -> Refund:
    return refund_request(
        payment_id=payment.pk,
        amount_fen=amount_fen,
        purpose=REFUND_PURPOSE,
        ref_id=ref_id,
        reason="退货退款",
        key=key,
        debits=[(REVENUE, amount_fen)],
    )


def _books() -> tuple[int, int, int]:
    return (
        account_balance(ref=REVENUE),
        account_balance(ref=REFUND_CLEARING),
        account_balance(ref=GATEWAY_CLEARING),
    )


def _written() -> tuple[int, int]:
    return Refund.objects.count(), Transaction.objects.count()


def test_a_refund_is_booked_sent_after_commit_and_settled(django_capture_on_commit_callbacks):
    payment = make_paid_payment(amount_fen=1_990)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refund = _request(payment, 500)
    # booked inside the caller's transaction: owed back, not yet sent
    assert (refund.status, refund.attempts, refund.total_fen) == (Refund.Status.PENDING, 0, 1_990)
    assert 6 <= len(refund.out_refund_no) <= 64
    assert refund.out_refund_no.isalnum()
    assert _books() == (1_490, 500, -1_990)
    assert len(callbacks) == 1

    callbacks[0]()  # the commit: the sandbox refunds at once

    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (Refund.Status.SUCCEEDED, 1)
    assert refund.gateway_refund_id == f"sandbox-refund-{refund.out_refund_no}"
    assert refund.finished_at is not None
    assert _books() == (1_490, 0, -1_490)
    assert list(Transaction.objects.filter(ref_type="refund").values_list("idempotency_key", flat=True)) == [
        f"refund:{refund.pk}:requested",
        f"refund:{refund.pk}:succeeded",
    ]
    assert refund_events == [("succeeded", refund.pk)]
    call_command("ledger_check")


def test_the_same_key_gives_the_same_refund_and_writes_nothing(django_capture_on_commit_callbacks):
    payment = make_paid_payment()
    first = _request(payment, 500)
    before = _written()

    with django_capture_on_commit_callbacks() as callbacks:
        again = _request(payment, 500)

    assert again.pk == first.pk
    assert _written() == before
    assert callbacks == []
    with pytest.raises(RefundKeyReused):
        _request(payment, 600)
    assert _written() == before
    call_command("ledger_check")


def test_refunds_beyond_the_payment_are_refused_and_write_nothing():
    payment = make_paid_payment(amount_fen=1_990)
    _request(payment, 1_500, key="a")
    before, books = _written(), _books()

    with pytest.raises(RefundExceedsPayment) as refused_:
        _request(payment, 491, key="b")

    assert refused_.value.http_status == 409
    assert (_written(), _books()) == (before, books)
    assert _request(payment, 490, key="c").amount_fen == 490  # exactly the rest is fine
    call_command("ledger_check")


def test_an_unpaid_payment_or_a_zero_amount_is_refused():
    payment = make_payment()
    with pytest.raises(PaymentNotRefundable):
        _request(payment, 100)
    with pytest.raises(ValidationFailed):
        _request(make_paid_payment(payer=payment.payer), 0)
    assert _written() == (0, 1)  # only the second payment's receipt


def test_a_refused_refund_waits_for_ops_and_is_resent_under_the_same_number(fake):
    # given the gateway refuses (the merchant account is short of money)
    payment = make_paid_payment(gateway="fakepay", amount_fen=1_990)
    fake.will("refund", refused(403, "NOT_ENOUGH"))
    refund = _request(payment, 1_990)

    refund = refund_send(refund_id=refund.pk)

    # then it failed and the money waits in refund clearing (the ops queue)
    assert (refund.status, refund.failure_kind) == (Refund.Status.FAILED, Refund.FailureKind.REFUSED)
    assert refund.failure_reason.startswith("REFUSED NOT_ENOUGH")
    assert _books() == (0, 1_990, -1_990)
    assert refund_events == [("failed", refund.pk)]
    number = refund.out_refund_no
    # later news never changes a final refund
    assert refund_apply(out_refund_no=number, status="PROCESSING").status == Refund.Status.FAILED

    # when ops top up the account and send it again
    resent = refund_resend(refund_id=refund.pk)
    assert resent.status == Refund.Status.PENDING
    refund = refund_send(refund_id=refund.pk)

    # then it went out under the same number (the gateway refunds one number at most once)
    assert refund.status == Refund.Status.SUCCEEDED
    assert [c["out_refund_no"] for c in fake.calls_of("refund")] == [number, number]
    assert (refund.attempts, refund.resends) == (2, 1)
    assert _books() == (0, 0, 0)
    assert refund_events == [("failed", refund.pk), ("succeeded", refund.pk)]
    assert not RetiredRefundNumber.objects.exists()
    call_command("ledger_check")


def test_a_closed_refund_is_resent_under_a_new_number_and_the_old_one_is_retired(fake):
    payment = make_paid_payment(gateway="fakepay")
    fake.will("refund", {"status": "CLOSED"})
    refund = refund_send(refund_id=_request(payment, 800).pk)
    assert (refund.status, refund.failure_kind) == (Refund.Status.FAILED, Refund.FailureKind.CLOSED)
    old = refund.out_refund_no

    refund = refund_resend(refund_id=refund.pk)

    assert refund.out_refund_no != old
    assert list(RetiredRefundNumber.objects.values_list("out_refund_no", flat=True)) == [old]
    # news about the retired number is recognised and not applied
    assert refund_apply(out_refund_no=old, status="SUCCESS").pk == refund.pk
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    refund = refund_send(refund_id=refund.pk)
    assert refund.status == Refund.Status.SUCCEEDED
    assert [c["out_refund_no"] for c in fake.calls_of("refund")] == [old, refund.out_refund_no]
    assert _books() == (1_990 - 800, 0, -1_990 + 800)
    call_command("ledger_check")


def test_an_abnormal_refund_is_never_resent():
    payment = make_paid_payment()
    refund = _request(payment, 300)
    refund = refund_apply(out_refund_no=refund.out_refund_no, status="ABNORMAL", reason="card cancelled")
    assert refund.failure_kind == Refund.FailureKind.ABNORMAL

    with pytest.raises(RefundNotResendable, match="merchant platform"):
        refund_resend(refund_id=refund.pk)

    refund.refresh_from_db()
    assert (refund.status, refund.resends) == (Refund.Status.FAILED, 0)
    assert _books() == (1_690, 300, -1_990)


def test_only_failed_refunds_are_resent_and_only_within_the_payment():
    payment = make_paid_payment(amount_fen=1_000)
    pending = _request(payment, 600, key="a")
    with pytest.raises(RefundNotResendable):
        refund_resend(refund_id=pending.pk)
    failed = refund_apply(out_refund_no=pending.out_refund_no, status="CLOSED")
    _request(payment, 500, key="b")  # the room the failed one left was taken meanwhile
    before = _written()

    with pytest.raises(RefundExceedsPayment):
        refund_resend(refund_id=failed.pk)

    failed.refresh_from_db()
    assert failed.status == Refund.Status.FAILED
    assert _written() == before
    assert not RetiredRefundNumber.objects.exists()


@pytest.mark.parametrize(
    "trouble", [timeout(), refused(500, "SYSTEM_ERROR"), refused(429, "FREQUENCY_LIMITED")]
)
def test_transient_gateway_errors_keep_the_refund_in_flight_until_the_sweeper(fake, trouble):
    payment = make_paid_payment(gateway="fakepay")
    fake.will("refund", trouble, {"status": "PROCESSING"})
    refund = _request(payment, 1_990)
    now = timezone.now()

    refund = refund_send(refund_id=refund.pk, now=now)
    assert (refund.status, refund.attempts) == (Refund.Status.PENDING, 1)

    assert refunds_sweep(now + timedelta(seconds=30)) == 0  # not yet a minute
    assert refunds_sweep(now + timedelta(seconds=61)) == 1  # asked again: accepted, in progress
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (Refund.Status.PROCESSING, 2)
    assert refunds_sweep(now + timedelta(seconds=200)) == 1  # the sandbox fallback: SUCCESS
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert len({c["out_refund_no"] for c in fake.calls_of("refund")}) == 1
    assert _books() == (0, 0, 0)
    call_command("ledger_check")


def test_the_sweeper_sends_a_refund_whose_task_was_lost():
    payment = make_paid_payment()
    refund = _request(payment, 100)  # no commit callbacks run here: as if the task was lost
    later = timezone.now() + timedelta(minutes=2)

    assert refunds_sweep(later) == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert refunds_sweep(later + timedelta(minutes=5)) == 0
    call_command("ledger_check")

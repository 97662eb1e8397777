"""A refund purpose that takes a failed refund's money back (``failed_money_returned``, as
merchants' deposit refunds do): its refused or closed refunds are never resent and leave
ops' queue; its abnormal ones stay there, for ops at the gateway."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from shop.ledger.models import Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import ledger_post
from shop.payments.errors import RefundNotResendable
from shop.payments.models import Refund
from shop.payments.refunds import refund_apply, refund_clearing, refund_request, refund_resend, refund_send
from shop.payments.registry import (
    REFUND_PURPOSES,
    refund_handlers,
    refund_purposes_returning_failed_money,
    register_refund_purpose,
)

from .helpers import GATEWAY_CLEARING, REFUND_CLEARING, REVENUE, make_paid_payment, refused

pytestmark = pytest.mark.django_db

RETURNING = "test_returning"


def _give_back(refund: Refund) -> None:
    if refund.failure_kind != Refund.FailureKind.ABNORMAL:
        ledger_post(
            key=f"test-returned:{refund.pk}",
            kind="test_returned",
            lines=[(refund_clearing(), -refund.amount_fen), (REVENUE, refund.amount_fen)],
        )


@pytest.fixture(autouse=True)
def _returning_purpose():
    handlers = refund_handlers(on_failed=_give_back, failed_money_returned=True)
    with REFUND_PURPOSES.override(RETURNING, handlers):
        yield


@pytest.fixture
def ops(client):
    client.force_login(get_user_model().objects.create_superuser(username="ops", password="pw-ops-123"))
    return client


def _request(payment, amount_fen: int, key: str) -> Refund:
    return refund_request(
        payment_id=payment.pk,
        amount_fen=amount_fen,
        purpose=RETURNING,
        ref_id=1,
        reason="退款",
        key=key,
        debits=[(REVENUE, amount_fen)],
    )


def test_a_purpose_returning_failed_money_must_say_how():
    with pytest.raises(RuntimeError):
        register_refund_purpose(purpose="test_careless", failed_money_returned=True)
    assert "test_careless" not in REFUND_PURPOSES
    assert RETURNING in refund_purposes_returning_failed_money()
    assert "test_careless" not in refund_purposes_returning_failed_money()


def test_its_refused_refund_is_not_resent_and_leaves_the_queue(fake, ops):
    payment = make_paid_payment(gateway="fakepay", amount_fen=1_990)
    fake.will("refund", refused(400, "PARAM_ERROR"))
    refund = refund_send(refund_id=_request(payment, 700, "r1").pk)
    assert (refund.status, refund.failure_kind) == ("failed", "refused")
    assert (account_balance(ref=REVENUE), account_balance(ref=REFUND_CLEARING)) == (1_990, 0)

    written = Transaction.objects.count()
    with pytest.raises(RefundNotResendable):
        refund_resend(refund_id=refund.pk)

    refund.refresh_from_db()
    assert (refund.status, refund.resends, refund.out_refund_no) == ("failed", 0, refund.out_refund_no)
    assert Transaction.objects.count() == written
    assert [c["out_refund_no"] for c in fake.calls_of("refund")] == [refund.out_refund_no]
    for queue in ("failed", "resendable"):
        assert refund.out_refund_no not in ops.get(f"/admin/payments/refund/?queue={queue}").content.decode()
    assert refund.out_refund_no in ops.get("/admin/payments/refund/?status=failed").content.decode()
    call_command("ledger_check")


def test_its_abnormal_refund_stays_in_clearing_and_in_the_queue(fake, ops):
    payment = make_paid_payment(gateway="fakepay", amount_fen=1_990)
    fake.will("refund", {"status": "PROCESSING"})
    refund = refund_send(refund_id=_request(payment, 700, "a1").pk)

    refund = refund_apply(out_refund_no=refund.out_refund_no, status="ABNORMAL")

    assert (refund.status, refund.failure_kind) == ("failed", "abnormal")
    assert (account_balance(ref=REFUND_CLEARING), account_balance(ref=GATEWAY_CLEARING)) == (700, -1_990)
    for queue in ("failed", "abnormal"):
        assert refund.out_refund_no in ops.get(f"/admin/payments/refund/?queue={queue}").content.decode()
    with pytest.raises(RefundNotResendable):
        refund_resend(refund_id=refund.pk)
    call_command("ledger_check")

"""Refunds of one payment racing on PostgreSQL with real threads: the cap and the key hold."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction

from shop.ledger.models import Transaction
from shop.ledger.selectors import account_balance
from shop.payments.errors import RefundExceedsPayment
from shop.payments.models import Refund
from shop.payments.refunds import refund_request
from shop.testing.concurrency import run_concurrently

from .helpers import GATEWAY_CLEARING, REFUND_CLEARING, REFUND_PURPOSE, REVENUE, make_paid_payment

pytestmark = pytest.mark.django_db(transaction=True)


def _refund_all(payment, key: str) -> Refund:
    with transaction.atomic():  # the caller's transaction, as an after-sales approval would be
        return refund_request(
            payment_id=payment.pk,
            amount_fen=payment.amount_fen,
            purpose=REFUND_PURPOSE,
            ref_id=None,
            reason="团购失败退款",
            key=key,
            debits=[(REVENUE, payment.amount_fen)],
        )


def test_two_threads_refunding_the_whole_payment_make_exactly_one_refund():
    payment = make_paid_payment(amount_fen=1_990)

    outcomes = run_concurrently(lambda i: _refund_all(payment, key=f"team-failed:{i}"), times=2)

    refunds = [o for o in outcomes if isinstance(o, Refund)]
    assert len(refunds) == 1, outcomes
    assert [type(o) for o in outcomes if not isinstance(o, Refund)] == [RefundExceedsPayment]
    refund = Refund.objects.get()
    assert (refund.amount_fen, refund.status) == (1_990, Refund.Status.SUCCEEDED)  # sent on commit
    assert account_balance(ref=REVENUE) == 0
    assert account_balance(ref=REFUND_CLEARING) == 0
    assert account_balance(ref=GATEWAY_CLEARING) == 0
    assert Transaction.objects.filter(ref_type="refund").count() == 2
    call_command("ledger_check")


def test_the_same_refund_asked_eight_times_at_once_is_made_once():
    payment = make_paid_payment(amount_fen=990)

    outcomes = run_concurrently(lambda i: _refund_all(payment, key="after-sales:42"), times=8)

    assert all(isinstance(o, Refund) for o in outcomes), outcomes
    assert {o.pk for o in outcomes} == {Refund.objects.get().pk}
    assert Transaction.objects.filter(ref_type="refund").count() == 2
    assert account_balance(ref=REVENUE) == 0
    call_command("ledger_check")

"""Ops' refund queue in admin: filters, the failed list, "Send the refund again"."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from shop.audit.models import AuditEntry
from shop.payments.models import Payment, PaymentAnomaly, Refund
from shop.payments.refunds import refund_request, refund_send

from .helpers import REFUND_PURPOSE, REVENUE, make_paid_payment, refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    user = get_user_model().objects.create_superuser(username="ops", password="pw-ops-123")
    client.force_login(user)
    return client


def _failed_refund(fake, amount_fen: int = 600) -> Refund:
    payment = make_paid_payment(gateway="fakepay")
    fake.will("refund", refused(403, "NOT_ENOUGH"))
    refund = refund_request(
        payment_id=payment.pk,
        amount_fen=amount_fen,
        purpose=REFUND_PURPOSE,
        ref_id=None,
        reason="退款",
        key="k",
        debits=[(REVENUE, amount_fen)],
    )
    return refund_send(refund_id=refund.pk)


def test_the_failed_list_and_the_filters_show_the_queue(ops, fake):
    refund = _failed_refund(fake)

    for query in (
        "queue=failed",
        "queue=resendable",
        "status=failed",
        "purpose=test_refund",
        "payment__gateway=fakepay",
    ):
        page = ops.get(f"/admin/payments/refund/?{query}")
        assert page.status_code == 200, query
        assert refund.out_refund_no in page.content.decode(), query
    assert refund.out_refund_no not in ops.get("/admin/payments/refund/?queue=abnormal").content.decode()
    assert ops.get(f"/admin/payments/refund/{refund.pk}/change/").status_code == 200


def test_send_the_refund_again_resends_it_safely(ops, fake, django_capture_on_commit_callbacks):
    refund = _failed_refund(fake)
    why = refund.failure_reason

    with django_capture_on_commit_callbacks(execute=True):  # the gateway call goes out after commit
        page = ops.post(
            "/admin/payments/refund/", {"action": "send_again", "_selected_action": [refund.pk]}, follow=True
        )

    assert page.status_code == 200
    assert "Sent 1 refund(s) to the gateway again" in page.content.decode()
    refund.refresh_from_db()
    assert (refund.status, refund.resends) == (Refund.Status.SUCCEEDED, 1)
    assert [c["out_refund_no"] for c in fake.calls_of("refund")] == [refund.out_refund_no] * 2
    # a second click on a refund that is no longer failed is refused in plain words
    page = ops.post(
        "/admin/payments/refund/", {"action": "send_again", "_selected_action": [refund.pk]}, follow=True
    )
    assert "is refunded" in page.content.decode()
    assert len(fake.calls_of("refund")) == 2
    entry = AuditEntry.objects.get()  # the refused second click recorded nothing
    assert (entry.action, entry.object_id, entry.actor_name) == ("refund.resend", str(refund.pk), "ops")
    assert entry.details == {
        "amount_fen": 600,
        "failure_reason": why,
        "out_refund_no": refund.out_refund_no,
    }
    call_command("ledger_check")


def test_the_anomaly_admin_shows_its_refund(ops):
    payment = make_paid_payment()
    payment.status = Payment.Status.CLOSED  # as if it had been closed before the money came
    anomaly = PaymentAnomaly.objects.create(
        payment=payment,
        kind=PaymentAnomaly.Kind.PAID_AFTER_CLOSE,
        gateway_txn_id="x1",
        reported_amount_fen=1_990,
    )
    anomaly.refund = refund_request(
        payment_id=payment.pk,
        amount_fen=1_990,
        purpose="payment_anomaly",
        ref_id=anomaly.pk,
        reason="",
        key="anomaly",
        debits=[(REVENUE, 1_990)],
    )
    anomaly.save()

    page = ops.get("/admin/payments/paymentanomaly/")

    assert page.status_code == 200
    assert "To be sent to the gateway" in page.content.decode()
    assert ops.get(f"/admin/payments/paymentanomaly/{anomaly.pk}/change/").status_code == 200

"""Leaving: listings off sale, the deposit refunded after the cool-off through shop.payments'
generic Refund (purpose ``deposit_refund``), one part per deposit payment; a refused part
comes back into the deposit for ops, an abnormal one waits in refund clearing; the last
successful part closes the merchant. The ledger balances in every scenario."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from merchants import registry
from merchants.errors import AfterSalesOpen, DepositFrozen, DepositRefundInProgress, ExitNotDue
from merchants.models import DEPOSIT_REFUND_PURPOSE, DepositMovement, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.services import (
    deposit_deduct,
    deposit_payment_create,
    deposit_refund_start,
    deposit_refunds_start_due,
    merchant_exit_cancel,
    merchant_exit_request,
)
from merchants.tests.factories import pay_deposit
from products.models import Product
from shop import sweepers
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.notifications.models import Notification
from shop.payments.errors import RefundNotResendable
from shop.payments.gateways.base import GatewayError
from shop.payments.gateways.sandbox import SIGNATURE_HEADER, SandboxGateway
from shop.payments.models import Refund
from shop.payments.refunds import refund_resend, refund_send
from shop.payments.services import payment_apply_result
from shop.payments.tests.helpers import refused

pytestmark = pytest.mark.django_db

COOL_OFF = timedelta(days=15)
GATEWAY = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)
REFUND_CLEARING = AccountRef.platform(Account.Kind.REFUND_CLEARING)
NOTIFY_HEADER = f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}"


def deposit_of(merchant) -> int:
    return merchant_deposit_balance(merchant_id=merchant.pk)


def books(merchant) -> tuple[int, int, int]:
    """(deposit, refund clearing, gateway clearing), in fen."""
    return (
        deposit_of(merchant),
        account_balance(ref=REFUND_CLEARING),
        account_balance(ref=GATEWAY),
    )


def parts_of(movement) -> list[Refund]:
    return list(Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE, ref_id=movement.pk).order_by("pk"))


def status_of(merchant) -> str:
    merchant.refresh_from_db()
    return merchant.status


def leave_long_ago(staff, merchant) -> None:
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=timezone.now() - COOL_OFF)


def test_exit_takes_listings_off_sale_and_refunds_after_the_cool_off(
    shop, django_capture_on_commit_callbacks
):
    staff, merchant, products = shop
    asked = timezone.now()
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=asked)
    assert {Product.objects.get(pk=p.pk).status for p in products.values()} == {"off_sale"}

    with pytest.raises(ExitNotDue):
        deposit_refund_start(merchant_id=merchant.pk, now=asked + COOL_OFF - timedelta(seconds=1))
    assert DepositMovement.objects.filter(kind="refund").count() == 0

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        movement = deposit_refund_start(merchant_id=merchant.pk, now=asked + COOL_OFF)

    assert len(callbacks) == 1  # one gateway refund task: one deposit payment
    [refund] = parts_of(movement)
    payment = DepositMovement.objects.get(merchant=merchant, kind="paid").payment
    assert (refund.payment_id, refund.amount_fen, refund.total_fen, refund.reason) == (
        payment.pk,
        300_000,
        300_000,
        "保证金退还",
    )
    assert (refund.status, refund.gateway_refund_id) == (
        "succeeded",
        f"sandbox-refund-{refund.out_refund_no}",
    )
    assert refund.key == f"deposit-refund:{movement.pk}:{payment.pk}"
    assert (movement.amount_fen, movement.balance_after_fen, movement.reason_code) == (-300_000, 0, "exit")
    assert status_of(merchant) == Merchant.Status.CLOSED
    assert books(merchant) == (0, 0, 0)  # what came in through the gateway went back out
    assert Notification.objects.filter(recipient=staff.user, kind="merchant_closed").count() == 1
    call_command("ledger_check")


def test_refund_is_split_over_the_deposit_payments_newest_first(shop):
    staff, merchant, _ = shop
    first = DepositMovement.objects.get(merchant=merchant, kind="paid").payment
    second = pay_deposit(merchant, 50_000, payer=staff.user)
    deposit_deduct(merchant_id=merchant.pk, amount_fen=100_000, reason_code="late_shipment", actor=None)
    leave_long_ago(staff, merchant)

    movement = deposit_refund_start(merchant_id=merchant.pk)  # no commit in this test: not sent

    parts = [(r.payment_id, r.amount_fen, r.status) for r in parts_of(movement)]
    assert parts == [(second.pk, 50_000, "pending"), (first.pk, 200_000, "pending")]
    assert movement.amount_fen == -250_000
    assert books(merchant) == (0, 250_000, -350_000)  # owed back, waiting for the gateway
    call_command("ledger_check")


def test_open_dispute_freezes_the_deposit_and_open_after_sales_block_the_refund(shop):
    staff, merchant, _ = shop
    leave_long_ago(staff, merchant)
    disputes, after_sales = registry.OPEN_DISPUTE_COUNTERS, registry.OPEN_AFTER_SALES_COUNTERS
    with disputes.emptied(), after_sales.emptied(), disputes.override("test", lambda merchant_id: 1):
        with pytest.raises(DepositFrozen):
            deposit_refund_start(merchant_id=merchant.pk)
        assert deposit_refunds_start_due(timezone.now()) == 0

    counting = after_sales.override("test", lambda merchant_id: 2)
    with disputes.emptied(), after_sales.emptied(), counting, pytest.raises(AfterSalesOpen):
        deposit_refund_start(merchant_id=merchant.pk)

    assert deposit_of(merchant) == 300_000
    assert Refund.objects.count() == 0
    assert DepositMovement.objects.filter(kind="refund").count() == 0
    # ops can still deduct while it is frozen: that is how a dispute is usually settled
    deposit_deduct(merchant_id=merchant.pk, amount_fen=1_000, reason_code="misdescribed", actor=None)
    assert deposit_of(merchant) == 299_000


def test_gateway_refusal_returns_the_money_to_the_deposit(shop, django_capture_on_commit_callbacks):
    staff, merchant, _ = shop
    leave_long_ago(staff, merchant)
    refusal = GatewayError("too old", status=400, wechat_code="PARAM_ERROR")

    with (
        mock.patch("shop.payments.gateways.sandbox.SandboxGateway.refund", side_effect=refusal),
        django_capture_on_commit_callbacks(execute=True),
    ):
        movement = deposit_refund_start(merchant_id=merchant.pk)

    [refund] = parts_of(movement)
    assert (refund.status, refund.failure_kind) == ("failed", "refused")
    assert "PARAM_ERROR" in refund.failure_reason
    assert status_of(merchant) == Merchant.Status.EXITING
    assert books(merchant) == (300_000, 0, -300_000)
    returned = DepositMovement.objects.get(merchant=merchant, kind="refund_returned")
    assert (returned.amount_fen, returned.balance_after_fen, returned.payment_id) == (
        300_000,
        300_000,
        refund.payment_id,
    )
    assert (returned.reason_code, returned.ledger_key) == (
        "gateway_refused",
        f"deposit-refund-returned:{refund.pk}",
    )
    # the sweeper leaves it to ops from now on, and the payments ops queue cannot resend it
    assert deposit_refunds_start_due(timezone.now()) == 0
    written = Transaction.objects.count()
    with pytest.raises(RefundNotResendable):
        refund_resend(refund_id=refund.pk)
    refund.refresh_from_db()
    assert (refund.status, refund.resends, Transaction.objects.count()) == ("failed", 0, written)
    call_command("ledger_check")


def test_a_refused_part_comes_back_and_ops_refund_it_again(shop, fake, django_capture_on_commit_callbacks):
    staff, merchant, _ = shop
    second = pay_deposit(merchant, 50_000, payer=staff.user, gateway="fakepay")
    leave_long_ago(staff, merchant)
    fake.will("refund", refused(403, "NOT_ENOUGH"))  # the newest part (fakepay) is refused

    with django_capture_on_commit_callbacks(execute=True):
        movement = deposit_refund_start(merchant_id=merchant.pk)

    assert [(r.payment_id, r.amount_fen, r.status) for r in parts_of(movement)][0] == (
        second.pk,
        50_000,
        "failed",
    )
    assert [r.status for r in parts_of(movement)] == ["failed", "succeeded"]
    assert status_of(merchant) == Merchant.Status.EXITING  # one part came back: not done
    assert books(merchant) == (50_000, 0, -50_000)

    # ops: "Refund the deposit now" — a new exit refund of what the deposit holds
    with django_capture_on_commit_callbacks(execute=True):
        again = deposit_refund_start(merchant_id=merchant.pk, actor=staff.user)

    [part] = parts_of(again)
    assert (part.payment_id, part.amount_fen, part.status) == (second.pk, 50_000, "succeeded")
    assert part.out_refund_no != parts_of(movement)[0].out_refund_no
    assert status_of(merchant) == Merchant.Status.CLOSED
    assert books(merchant) == (0, 0, 0)
    assert list(
        DepositMovement.objects.filter(merchant=merchant).order_by("pk").values_list("kind", "amount_fen")
    ) == [
        ("paid", 300_000),
        ("paid", 50_000),
        ("refund", -350_000),
        ("refund_returned", 50_000),
        ("refund", -50_000),
    ]
    call_command("ledger_check")


def _notify(refund: Refund, status: str):
    headers, body = SandboxGateway().build_refund_callback(
        out_trade_no=refund.payment.out_trade_no,
        out_refund_no=refund.out_refund_no,
        refund_fen=refund.amount_fen,
        status=status,
    )
    return APIClient().post(
        f"/api/v1/payments/{refund.payment.gateway}/refund-notify",
        data=body,
        content_type="application/json",
        **{NOTIFY_HEADER: headers[SIGNATURE_HEADER]},
    )


@pytest.fixture
def processing(fake, django_capture_on_commit_callbacks):
    """A leaving merchant whose ¥500 deposit (paid through fakepay) is being refunded: the
    gateway accepted the refund and will tell us the outcome by callback."""
    from merchants.tests.factories import MerchantStaffFactory

    staff = MerchantStaffFactory()
    pay_deposit(staff.merchant, 50_000, payer=staff.user, gateway="fakepay")
    leave_long_ago(staff, staff.merchant)
    fake.will("refund", {"status": "PROCESSING"})
    with django_capture_on_commit_callbacks(execute=True):
        movement = deposit_refund_start(merchant_id=staff.merchant.pk)
    [refund] = parts_of(movement)
    assert refund.status == "processing"
    return staff, staff.merchant, refund


def test_the_refund_callback_closes_the_merchant_once(processing):
    staff, merchant, refund = processing
    with pytest.raises(DepositRefundInProgress):
        merchant_exit_cancel(merchant_id=merchant.pk, actor=staff.user)

    first = _notify(refund, "SUCCESS")
    written = Transaction.objects.count()
    duplicate = _notify(refund, "SUCCESS")  # WeChat retries: answered, nothing changes

    assert (first.status_code, duplicate.status_code) == (200, 200)
    assert Transaction.objects.count() == written
    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert status_of(merchant) == Merchant.Status.CLOSED
    assert books(merchant) == (0, 0, 0)
    assert Notification.objects.filter(recipient=staff.user, kind="merchant_closed").count() == 1
    call_command("ledger_check")


def test_an_abnormal_part_waits_in_refund_clearing_for_ops_at_the_gateway(processing, admin_client):
    staff, merchant, refund = processing

    assert _notify(refund, "ABNORMAL").status_code == 200

    refund.refresh_from_db()
    assert (refund.status, refund.failure_kind) == ("failed", "abnormal")
    assert status_of(merchant) == Merchant.Status.EXITING
    assert books(merchant) == (0, 50_000, -50_000)  # waiting in refund clearing, not in the deposit
    assert not DepositMovement.objects.filter(kind="refund_returned").exists()
    queue = admin_client.get("/admin/payments/refund/?queue=abnormal").content.decode()
    assert refund.out_refund_no in queue
    page = admin_client.get(f"/admin/merchants/merchant/{merchant.pk}/change/").content.decode()
    assert refund.out_refund_no in page  # the merchant's page links each part of its refund
    with pytest.raises(RefundNotResendable):
        refund_resend(refund_id=refund.pk)

    # ops handled it on the WeChat Pay platform; "Refund the deposit now" finds nothing left
    assert deposit_refund_start(merchant_id=merchant.pk, actor=staff.user) is None
    assert status_of(merchant) == Merchant.Status.CLOSED
    call_command("ledger_check")


def test_gateway_outage_keeps_the_refund_in_flight_and_the_payments_sweeper_finishes_it(shop):
    staff, merchant, _ = shop
    leave_long_ago(staff, merchant)
    now = timezone.now()
    with mock.patch(
        "shop.payments.gateways.sandbox.SandboxGateway.refund",
        side_effect=GatewayError("timeout", status=None),
    ):
        assert deposit_refunds_start_due(now) == 1  # started; the task did not run (no commit in tests)
        [refund] = Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE)
        refund_send(refund_id=refund.pk, now=now)

    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == ("pending", 1)
    assert books(merchant) == (0, 300_000, -300_000)

    results = sweepers.run_all(now=now + timedelta(minutes=2))

    assert (results["payments.refunds_in_flight"], results["merchants.deposit_refunds_due"]) == (1, 0)
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == ("succeeded", 2)
    assert status_of(merchant) == Merchant.Status.CLOSED
    assert books(merchant) == (0, 0, 0)
    call_command("ledger_check")


def test_exit_can_be_withdrawn_before_the_refund(shop):
    staff, merchant, products = shop
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user)

    merchant_exit_cancel(merchant_id=merchant.pk, actor=staff.user)

    merchant.refresh_from_db()
    assert (merchant.status, merchant.exit_requested_at) == (Merchant.Status.APPROVED, None)
    assert Product.objects.get(pk=products["tissue"].pk).status == "off_sale"
    assert deposit_of(merchant) == 300_000


def test_zero_deposit_closes_without_a_refund(shop):
    staff, merchant, _ = shop
    deposit_deduct(merchant_id=merchant.pk, amount_fen=300_000, reason_code="counterfeit", actor=None)
    leave_long_ago(staff, merchant)

    assert deposit_refund_start(merchant_id=merchant.pk) is None

    assert status_of(merchant) == Merchant.Status.CLOSED
    assert Refund.objects.count() == 0
    assert DepositMovement.objects.filter(kind="refund").count() == 0


def test_a_deposit_paid_after_closing_is_refunded_by_the_sweeper(shop, django_capture_on_commit_callbacks):
    staff, merchant, _ = shop
    late = deposit_payment_create(merchant=merchant, payer=staff.user, amount_fen=20_000, gateway="sandbox")
    leave_long_ago(staff, merchant)
    with django_capture_on_commit_callbacks(execute=True):
        deposit_refund_start(merchant_id=merchant.pk)
    assert status_of(merchant) == Merchant.Status.CLOSED

    gateway = SandboxGateway()  # the merchant pays the old payment after all: back to "leaving"
    headers, body = gateway.build_success_callback(late)
    payment_apply_result(gateway="sandbox", result=gateway.parse_payment_callback(headers=headers, body=body))
    assert status_of(merchant) == Merchant.Status.EXITING
    with django_capture_on_commit_callbacks(execute=True):
        assert deposit_refunds_start_due(timezone.now()) == 1

    refund = Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE).latest("pk")
    assert (refund.payment_id, refund.amount_fen, refund.status) == (late.pk, 20_000, "succeeded")
    assert status_of(merchant) == Merchant.Status.CLOSED
    assert books(merchant) == (0, 0, 0)
    call_command("ledger_check")

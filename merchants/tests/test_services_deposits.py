"""Margin deposits: paid in through the gateway, deducted for violations (with buyer
compensation), listings suspended and restored, frozen by disputes, refunded on exit."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.factories import UserFactory
from merchants import registry
from merchants.errors import (
    AfterSalesOpen,
    DepositFrozen,
    DepositInsufficient,
    ExitNotDue,
    MerchantNotActive,
)
from merchants.models import DepositMovement, DepositRefund, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.services import (
    deposit_deduct,
    deposit_payment_create,
    deposit_refund_send,
    deposit_refund_start,
    deposit_refunds_sweep,
    merchant_exit_cancel,
    merchant_exit_request,
)
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.models import Product
from products.tests.factories import CategoryFactory, ProductFactory
from shop.errors import ValidationFailed
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.notifications.models import Notification
from shop.payments.gateways.base import GatewayError

pytestmark = pytest.mark.django_db

COOL_OFF = timedelta(days=15)


def balance(ref: AccountRef) -> int:
    return account_balance(ref=ref)


def deposit_of(merchant) -> int:
    return merchant_deposit_balance(merchant_id=merchant.pk)


PLATFORM_REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)
GATEWAY = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)


@pytest.fixture
def shop():
    """A merchant with ¥3,000 deposit, listings in a ¥2,000 and a ¥3,000 category."""
    staff = MerchantStaffFactory()
    merchant = staff.merchant
    general = CategoryFactory(name="日用百货", deposit_fen=200_000)
    digital = CategoryFactory(name="数码电子", deposit_fen=300_000)
    merchant.categories.set([general, digital])
    pay_deposit(merchant, 300_000, payer=staff.user)
    products = {
        "tissue": ProductFactory(merchant=merchant, category=general, status=Product.Status.ON_SALE),
        "case": ProductFactory(merchant=merchant, category=digital, status=Product.Status.ON_SALE),
        "cable": ProductFactory(merchant=merchant, category=digital, status=Product.Status.OFF_SALE),
    }
    return staff, merchant, products


def statuses(products):
    return {key: Product.objects.get(pk=p.pk).status for key, p in products.items()}


def test_paid_deposit_is_in_the_ledger_and_the_audit_trail(shop):
    staff, merchant, _ = shop

    movement = DepositMovement.objects.get(merchant=merchant)

    assert deposit_of(merchant) == 300_000
    assert balance(GATEWAY) == -300_000
    assert (movement.kind, movement.amount_fen, movement.balance_after_fen) == ("paid", 300_000, 300_000)
    assert movement.actor == staff.user
    assert movement.ledger_key == f"payment:{movement.payment_id}:received"


def test_deduction_below_a_standard_suspends_listings_there_and_notifies(shop):
    staff, merchant, products = shop
    ops = UserFactory(is_staff=True)

    movement = deposit_deduct(
        merchant_id=merchant.pk,
        amount_fen=50_000,
        reason_code="late_shipment",
        note="订单 123 超时 5 天",
        actor=ops,
    )

    assert deposit_of(merchant) == 250_000
    assert balance(PLATFORM_REVENUE) == 50_000
    assert statuses(products) == {"tissue": "on_sale", "case": "suspended", "cable": "off_sale"}
    assert (movement.amount_fen, movement.balance_after_fen, movement.actor) == (-50_000, 250_000, ops)
    assert movement.reason_code == "late_shipment"
    assert movement.suspended_products_count == 1
    case = Product.objects.get(pk=products["case"].pk)
    assert "数码电子" in case.status_reason
    note = Notification.objects.get(recipient=staff.user, kind="deposit_deducted")
    assert note.data["amount_fen"] == 50_000
    assert note.data["suspended_product_ids"] == [products["case"].pk]


def test_deduction_can_compensate_the_buyer_wallet(shop):
    _, merchant, _ = shop
    buyer = UserFactory()

    deposit_deduct(
        merchant_id=merchant.pk,
        amount_fen=30_000,
        reason_code="fake_tracking",
        actor=UserFactory(is_staff=True),
        buyer_id=buyer.pk,
        compensation_fen=20_000,
        order_ref=42,
    )

    assert deposit_of(merchant) == 270_000
    assert balance(AccountRef.user(Account.Kind.USER_AVAILABLE, buyer.pk)) == 20_000
    assert balance(PLATFORM_REVENUE) == 10_000
    assert Notification.objects.get(recipient=buyer).kind == "compensation_received"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount_fen": 0}, "amount_fen"),
        ({"reason_code": "top_up"}, "reason_code"),
        ({"compensation_fen": 100}, "buyer"),
        ({"compensation_fen": 20_000, "buyer_id": -1}, "buyer"),
        ({"compensation_fen": 20_001, "amount_fen": 20_000}, "compensation_fen"),
    ],
)
def test_bad_deductions_are_refused_and_move_nothing(shop, kwargs, field):
    _, merchant, _ = shop
    args = {"amount_fen": 10_000, "reason_code": "out_of_stock", **kwargs}

    with pytest.raises(ValidationFailed) as refused:
        deposit_deduct(merchant_id=merchant.pk, actor=None, **args)

    assert field in refused.value.fields
    assert deposit_of(merchant) == 300_000
    assert DepositMovement.objects.filter(kind="deducted").count() == 0


def test_deduction_beyond_the_balance_is_refused(shop):
    _, merchant, products = shop

    with pytest.raises(DepositInsufficient):
        deposit_deduct(merchant_id=merchant.pk, amount_fen=300_001, reason_code="counterfeit", actor=None)

    assert deposit_of(merchant) == 300_000
    assert statuses(products)["case"] == "on_sale"


def test_the_same_request_key_deducts_once(shop):
    _, merchant, _ = shop

    first = deposit_deduct(
        merchant_id=merchant.pk, amount_fen=1_000, reason_code="misdescribed", actor=None, request_key="k1"
    )
    second = deposit_deduct(
        merchant_id=merchant.pk, amount_fen=1_000, reason_code="misdescribed", actor=None, request_key="k1"
    )

    assert first.pk == second.pk
    assert deposit_of(merchant) == 299_000


def test_top_up_restores_suspended_listings_automatically(shop):
    staff, merchant, products = shop
    deposit_deduct(merchant_id=merchant.pk, amount_fen=150_000, reason_code="counterfeit", actor=None)
    assert statuses(products) == {"tissue": "suspended", "case": "suspended", "cable": "off_sale"}

    pay_deposit(merchant, 60_000, payer=staff.user)  # 210,000: covers 日用百货 only
    assert statuses(products) == {"tissue": "on_sale", "case": "suspended", "cable": "off_sale"}

    payment = pay_deposit(merchant, 90_000, payer=staff.user)  # 300,000: covers both
    assert statuses(products) == {"tissue": "on_sale", "case": "on_sale", "cable": "off_sale"}
    movement = DepositMovement.objects.get(payment=payment)
    assert (movement.balance_after_fen, movement.restored_products_count) == (300_000, 1)


def test_only_an_approved_merchant_pays_a_deposit():
    merchant = MerchantStaffFactory(merchant__status=Merchant.Status.PENDING).merchant

    with pytest.raises(MerchantNotActive):
        deposit_payment_create(merchant=merchant, payer=merchant.applicant, amount_fen=100, gateway="sandbox")


# --- Exit and refund -------------------------------------------------------------------


def test_exit_takes_listings_off_sale_and_refunds_after_the_cool_off(
    shop, django_capture_on_commit_callbacks
):
    staff, merchant, products = shop
    asked = timezone.now()
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=asked)
    assert statuses(products) == {"tissue": "off_sale", "case": "off_sale", "cable": "off_sale"}

    with pytest.raises(ExitNotDue):
        deposit_refund_start(merchant_id=merchant.pk, now=asked + COOL_OFF - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        movement = deposit_refund_start(merchant_id=merchant.pk, now=asked + COOL_OFF)

    assert len(callbacks) == 1  # one gateway refund task: one deposit payment
    refund = DepositRefund.objects.get(movement=movement)
    merchant.refresh_from_db()
    assert (refund.status, refund.amount_fen, refund.gateway_refund_id) == (
        "succeeded",
        300_000,
        f"sandbox-refund-{refund.out_refund_no}",
    )
    assert merchant.status == Merchant.Status.CLOSED
    assert deposit_of(merchant) == 0
    assert balance(GATEWAY) == 0  # what came in through the gateway went back out
    assert balance(AccountRef.merchant(Account.Kind.PAYOUT_CLEARING, merchant.pk)) == 0
    assert movement.amount_fen == -300_000


def test_refund_is_split_over_the_deposit_payments_newest_first(shop):
    staff, merchant, _ = shop
    second = pay_deposit(merchant, 50_000, payer=staff.user)
    deposit_deduct(merchant_id=merchant.pk, amount_fen=100_000, reason_code="late_shipment", actor=None)
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=timezone.now() - COOL_OFF)

    movement = deposit_refund_start(merchant_id=merchant.pk)

    parts = list(
        DepositRefund.objects.filter(movement=movement).order_by("pk").values_list("payment_id", "amount_fen")
    )
    assert parts[0] == (second.pk, 50_000)
    assert sum(amount for _, amount in parts) == 250_000
    assert parts[1][1] == 200_000


def test_open_dispute_freezes_the_deposit_and_open_after_sales_block_the_refund(shop):
    staff, merchant, _ = shop
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=timezone.now() - COOL_OFF)
    saved = registry.unregister_all_for_tests()
    try:
        registry.register_open_dispute_counter(lambda merchant_id: 1)
        with pytest.raises(DepositFrozen):
            deposit_refund_start(merchant_id=merchant.pk)
        assert deposit_refunds_sweep(timezone.now()) == 0

        registry.unregister_all_for_tests()
        registry.register_open_after_sales_counter(lambda merchant_id: 2)
        with pytest.raises(AfterSalesOpen):
            deposit_refund_start(merchant_id=merchant.pk)
    finally:
        registry.restore_for_tests(saved)

    assert deposit_of(merchant) == 300_000
    assert DepositRefund.objects.count() == 0
    # ops can still deduct while it is frozen: that is how a dispute is usually settled
    deposit_deduct(merchant_id=merchant.pk, amount_fen=1_000, reason_code="misdescribed", actor=None)


def test_gateway_refusal_returns_the_money_to_the_deposit(shop, django_capture_on_commit_callbacks):
    staff, merchant, _ = shop
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=timezone.now() - COOL_OFF)
    refusal = GatewayError("too old", status=400, wechat_code="PARAM_ERROR")

    with (
        mock.patch("shop.payments.gateways.sandbox.SandboxGateway.refund", side_effect=refusal),
        django_capture_on_commit_callbacks(execute=True),
    ):
        movement = deposit_refund_start(merchant_id=merchant.pk)

    refund = DepositRefund.objects.get(movement=movement)
    merchant.refresh_from_db()
    assert refund.status == "failed"
    assert "PARAM_ERROR" in refund.failure_reason
    assert merchant.status == Merchant.Status.EXITING
    assert deposit_of(merchant) == 300_000
    assert balance(AccountRef.merchant(Account.Kind.PAYOUT_CLEARING, merchant.pk)) == 0
    assert (
        DepositMovement.objects.filter(merchant=merchant, kind="refund_returned").get().amount_fen == 300_000
    )
    # the sweeper leaves it to ops from now on
    assert deposit_refunds_sweep(timezone.now()) == 0


def test_gateway_outage_keeps_the_refund_in_flight_and_the_sweeper_finishes_it(shop):
    staff, merchant, _ = shop
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=timezone.now() - COOL_OFF)
    now = timezone.now()
    with mock.patch(
        "shop.payments.gateways.sandbox.SandboxGateway.refund",
        side_effect=GatewayError("timeout", status=None),
    ):
        assert deposit_refunds_sweep(now) == 1  # started; the task did not run (no commit in tests)
        refund = DepositRefund.objects.get()
        deposit_refund_send(refund_id=refund.pk, now=now)

    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == ("pending", 1)

    assert deposit_refunds_sweep(now + timedelta(minutes=2)) == 1

    refund.refresh_from_db()
    merchant.refresh_from_db()
    assert (refund.status, refund.attempts) == ("succeeded", 2)
    assert merchant.status == Merchant.Status.CLOSED
    call_command("ledger_check")


def test_exit_can_be_withdrawn_before_the_refund(shop):
    staff, merchant, products = shop
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user)

    merchant_exit_cancel(merchant_id=merchant.pk, actor=staff.user)

    merchant.refresh_from_db()
    assert (merchant.status, merchant.exit_requested_at) == (Merchant.Status.APPROVED, None)
    assert statuses(products)["tissue"] == "off_sale"


def test_zero_deposit_closes_without_a_refund(shop):
    staff, merchant, _ = shop
    deposit_deduct(merchant_id=merchant.pk, amount_fen=300_000, reason_code="counterfeit", actor=None)
    merchant_exit_request(merchant_id=merchant.pk, actor=staff.user, now=timezone.now() - COOL_OFF)

    assert deposit_refund_start(merchant_id=merchant.pk) is None

    merchant.refresh_from_db()
    assert merchant.status == Merchant.Status.CLOSED
    assert DepositRefund.objects.count() == 0

"""Races on PostgreSQL with real commits: deductions never overdraw a deposit, a publish
and a deduction cannot pass each other, a stock upload never touches reservations, an
exit refund starts once, and parts finishing together close the merchant exactly once."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from merchants.errors import DepositInsufficient, DepositRefundInProgress, DepositShort, MerchantNotExiting
from merchants.models import DEPOSIT_REFUND_PURPOSE, DepositMovement, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.services import (
    deposit_deduct,
    deposit_refund_start,
    merchant_exit_request,
    merchant_product_publish,
    stock_upload_run,
)
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.errors import OutOfStock
from products.models import Product, Sku
from products.services import sku_reserve_stock
from products.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from shop.notifications.models import Notification
from shop.payments.models import Refund
from shop.payments.refunds import refund_apply
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_deductions_never_overdraw_the_deposit():
    staff = MerchantStaffFactory()
    pay_deposit(staff.merchant, 100_000, payer=staff.user)

    results = run_concurrently(
        lambda i: deposit_deduct(
            merchant_id=staff.merchant.pk, amount_fen=20_000, reason_code="late_shipment", actor=None
        ),
        times=8,
    )

    won = [r for r in results if isinstance(r, DepositMovement)]
    lost = [r for r in results if isinstance(r, DepositInsufficient)]
    assert (len(won), len(lost)) == (5, 3)
    assert sorted(m.balance_after_fen for m in won) == [0, 20_000, 40_000, 60_000, 80_000]
    assert merchant_deposit_balance(merchant_id=staff.merchant.pk) == 0
    call_command("ledger_check")


def test_a_double_submitted_deduction_deducts_once():
    staff = MerchantStaffFactory()
    pay_deposit(staff.merchant, 100_000, payer=staff.user)

    results = run_concurrently(
        lambda i: (
            deposit_deduct(
                merchant_id=staff.merchant.pk,
                amount_fen=30_000,
                reason_code="fake_tracking",
                actor=None,
                request_key="form-1",
            ).pk
        ),
        times=4,
    )

    assert len(set(results)) == 1
    assert merchant_deposit_balance(merchant_id=staff.merchant.pk) == 70_000


def test_publish_racing_a_deduction_never_leaves_a_listing_on_sale_uncovered():
    staff = MerchantStaffFactory()
    category = CategoryFactory(deposit_fen=50_000)
    staff.merchant.categories.set([category])
    pay_deposit(staff.merchant, 50_000, payer=staff.user)  # exactly the standard
    products = [
        ProductFactory(merchant=staff.merchant, category=category, status=Product.Status.DRAFT)
        for _ in range(3)
    ]
    for product in products:
        SkuFactory(product=product)

    def act(i: int):
        if i == 0:
            return deposit_deduct(
                merchant_id=staff.merchant.pk, amount_fen=1, reason_code="misdescribed", actor=None
            )
        return merchant_product_publish(merchant_id=staff.merchant.pk, product_id=products[i - 1].pk)

    results = run_concurrently(act, times=4)

    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, DepositShort)]
    assert merchant_deposit_balance(merchant_id=staff.merchant.pk) == 49_999
    assert set(Product.objects.filter(pk__in=[p.pk for p in products]).values_list("status", flat=True)) <= {
        "draft",
        "suspended",
    }


def test_stock_upload_racing_checkouts_keeps_every_reservation():
    staff = MerchantStaffFactory()
    sku = SkuFactory(product__merchant=staff.merchant, code="VD-24", on_hand=100, reserved=0)

    def act(i: int):
        if i == 0:
            return stock_upload_run(
                merchant_id=staff.merchant.pk,
                fileobj=io.BytesIO(b"sku_code,stock\nVD-24,50\n"),
                filename="s.csv",
                actor=staff.user,
            ).applied
        try:
            sku_reserve_stock(sku_id=sku.pk, qty=1)
        except OutOfStock:
            return "out"
        return "held"

    results = run_concurrently(act, times=9)

    assert results[0] == 1
    sku = Sku.objects.get(pk=sku.pk)
    assert (sku.on_hand, sku.reserved) == (50, results.count("held"))
    assert results.count("held") == 8


def _leaving_merchant(*amounts_fen: int, gateway: str = "sandbox"):
    staff = MerchantStaffFactory()
    for amount in amounts_fen:
        pay_deposit(staff.merchant, amount, payer=staff.user, gateway=gateway)
    merchant_exit_request(
        merchant_id=staff.merchant.pk, actor=staff.user, now=timezone.now() - timedelta(days=15)
    )
    return staff.merchant


def test_the_sweeper_and_ops_starting_one_exit_refund_at_once_refund_it_once():
    merchant = _leaving_merchant(60_000, 40_000)

    results = run_concurrently(lambda i: deposit_refund_start(merchant_id=merchant.pk), times=4)

    won = [r for r in results if isinstance(r, DepositMovement)]
    lost = [r for r in results if isinstance(r, (DepositRefundInProgress, MerchantNotExiting))]
    assert (len(won), len(lost)) == (1, 3)
    refunds = Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE)
    assert sorted(refunds.values_list("amount_fen", flat=True)) == [40_000, 60_000]
    assert set(refunds.values_list("status", flat=True)) == {"succeeded"}  # sent on commit
    assert Merchant.objects.get(pk=merchant.pk).status == Merchant.Status.CLOSED
    assert merchant_deposit_balance(merchant_id=merchant.pk) == 0
    call_command("ledger_check")


def test_the_last_two_parts_succeeding_at_once_close_the_merchant_once(fake):
    merchant = _leaving_merchant(60_000, 40_000, gateway="fakepay")
    fake.will("refund", {"status": "PROCESSING"}, {"status": "PROCESSING"})
    deposit_refund_start(merchant_id=merchant.pk)  # both parts sent on commit: accepted, in progress
    numbers = list(
        Refund.objects.filter(purpose=DEPOSIT_REFUND_PURPOSE, status="processing").values_list(
            "out_refund_no", flat=True
        )
    )
    assert len(numbers) == 2

    # the two success callbacks arrive together
    run_concurrently(lambda i: refund_apply(out_refund_no=numbers[i], status="SUCCESS"), times=2)

    assert Merchant.objects.get(pk=merchant.pk).status == Merchant.Status.CLOSED
    assert Notification.objects.filter(kind="merchant_closed").count() == 1
    assert merchant_deposit_balance(merchant_id=merchant.pk) == 0
    call_command("ledger_check")


def test_concurrent_accepts_of_one_invitation_let_exactly_one_person_in():
    from accounts.tests.factories import UserFactory
    from merchants.errors import InvitationUsed
    from merchants.models import MerchantStaff
    from merchants.services import merchant_staff_invite, staff_invitation_accept

    owner = MerchantStaffFactory()
    _, code = merchant_staff_invite(merchant=owner.merchant, role="operator", actor=owner.user)
    people = [UserFactory() for _ in range(6)]

    results = run_concurrently(lambda i: staff_invitation_accept(user=people[i], code=code), times=6)

    won = [r for r in results if isinstance(r, MerchantStaff)]
    lost = [r for r in results if isinstance(r, InvitationUsed)]
    assert (len(won), len(lost)) == (1, 5), results
    assert MerchantStaff.objects.filter(merchant=owner.merchant).count() == 2


def test_one_person_accepting_two_merchants_invitations_at_once_joins_one():
    from accounts.tests.factories import UserFactory
    from merchants.errors import StaffOfAnotherMerchant
    from merchants.models import MerchantStaff
    from merchants.services import merchant_staff_invite, staff_invitation_accept

    owners = [MerchantStaffFactory() for _ in range(2)]
    codes = [merchant_staff_invite(merchant=o.merchant, role="finance", actor=o.user)[1] for o in owners]
    person = UserFactory()

    results = run_concurrently(lambda i: staff_invitation_accept(user=person, code=codes[i]), times=2)

    assert sorted(type(r).__name__ for r in results) == ["MerchantStaff", "StaffOfAnotherMerchant"], results
    assert isinstance(next(r for r in results if not isinstance(r, MerchantStaff)), StaffOfAnotherMerchant)
    assert MerchantStaff.objects.filter(user=person).count() == 1


def test_two_last_owners_leaving_at_once_leave_one_owner():
    from merchants.errors import LastOwnerCannotLeave
    from merchants.models import MerchantStaff
    from merchants.services import merchant_staff_leave

    first = MerchantStaffFactory()
    second = MerchantStaffFactory(merchant=first.merchant, role="owner")
    users = [first.user, second.user]

    results = run_concurrently(lambda i: merchant_staff_leave(user=users[i]), times=2)

    assert sum(isinstance(r, LastOwnerCannotLeave) for r in results) == 1, results
    assert MerchantStaff.objects.filter(merchant=first.merchant, role="owner").count() == 1

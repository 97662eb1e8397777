"""Margin deposits: paid in through the gateway, deducted for violations (with buyer
compensation), listings suspended and restored. Leaving and the refund: test_services_exit.py."""

import pytest

from accounts.tests.factories import UserFactory
from merchants.errors import DepositInsufficient, MerchantNotActive
from merchants.models import DepositMovement, Merchant
from merchants.selectors import merchant_deposit_balance
from merchants.services import deposit_deduct, deposit_payment_create
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.models import Product
from shop.errors import ValidationFailed
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db


def balance(ref: AccountRef) -> int:
    return account_balance(ref=ref)


def deposit_of(merchant) -> int:
    return merchant_deposit_balance(merchant_id=merchant.pk)


PLATFORM_REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)
GATEWAY = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)


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
    staff = MerchantStaffFactory(merchant__status=Merchant.Status.PENDING)

    with pytest.raises(MerchantNotActive):
        deposit_payment_create(merchant=staff.merchant, payer=staff.user, amount_fen=100, gateway="sandbox")


@pytest.mark.parametrize("amount_fen", [0, 99, 100_000_001, -100])
def test_a_deposit_payment_out_of_bounds_is_refused_and_writes_nothing(amount_fen):
    """The bounds live in the service, so the API and the merchant console refuse the same."""
    from shop.payments.models import Payment

    staff = MerchantStaffFactory()

    with pytest.raises(ValidationFailed) as refused:
        deposit_payment_create(
            merchant=staff.merchant, payer=staff.user, amount_fen=amount_fen, gateway="sandbox"
        )

    assert set(refused.value.fields) == {"amount_fen"}
    assert not Payment.objects.exists()


def test_the_deposit_coverage_says_which_categories_the_balance_covers():
    from merchants.selectors import merchant_deposit_coverage
    from products.tests.factories import CategoryFactory

    staff = MerchantStaffFactory()
    merchant = staff.merchant
    fresh, daily = CategoryFactory(deposit_fen=500_000), CategoryFactory(deposit_fen=200_000)
    merchant.categories.add(fresh, daily)
    pay_deposit(merchant, 200_000, payer=staff.user)

    coverage = merchant_deposit_coverage(merchant=merchant)

    assert coverage.balance_fen == 200_000
    assert not coverage.frozen
    assert [(c.category_id, c.covered, c.shortfall_fen) for c in coverage.categories] == [
        (fresh.pk, False, 300_000),
        (daily.pk, True, 0),
    ]

import pytest

from groupstore.models import Store, StoreStats
from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from products.tests.factories import SkuFactory
from rebates.models import Accrual
from rebates.services.accrual import order_accrue_commission
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef

from .helpers import make_paid_order, make_pending_order, sandbox_pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku():
    staff = MerchantStaffFactory()
    return SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000)


def accruals_of(order) -> dict[str, tuple[int | None, int]]:
    return {a.kind: (a.beneficiary_id, a.amount_fen) for a in Accrual.objects.filter(order=order)}


def pending(user_id: int) -> int:
    return account_balance(ref=AccountRef.user(Account.Kind.USER_PENDING, user_id))


def test_a_members_purchase_splits_commission_into_pending_shares(sku):
    store, _, (member,) = make_store(members=1)

    order = make_paid_order(buyer=member, store=store, sku=sku)

    assert accruals_of(order) == {
        "member_rebate": (member.pk, 59),
        "owner_commission": (store.owner_id, 119),
        "platform": (None, 21),
    }
    assert pending(member.pk) == 59
    assert pending(store.owner_id) == 119
    assert account_balance(ref=AccountRef.platform(Account.Kind.PLATFORM_PENDING)) == 21
    assert (
        account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, sku.merchant_id)) == 1_791
    )
    assert StoreStats.objects.get(store=store).commission_pending_fen == 119


def test_the_owners_own_purchase_earns_no_owner_commission(sku):
    store, _, _ = make_store()
    owner = store.owner

    order = make_paid_order(buyer=owner, store=store, sku=sku)

    # The owner still gets the member rebate as a buyer; the owner share goes to the platform.
    assert accruals_of(order) == {"member_rebate": (owner.pk, 59), "platform": (None, 21 + 119)}
    assert pending(owner.pk) == 59
    assert StoreStats.objects.get(store=store).commission_pending_fen == 0


def test_a_store_frozen_before_payment_earns_its_owner_nothing(sku):
    store, _, (member,) = make_store(members=1)
    order = make_pending_order(buyer=member, store=store, sku=sku)
    Store.objects.filter(pk=store.pk).update(is_frozen=True)

    sandbox_pay(order.payment)

    assert accruals_of(order) == {"member_rebate": (member.pk, 59), "platform": (None, 140)}


def test_accruing_twice_posts_nothing_twice(sku):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    transactions = Transaction.objects.count()

    order_accrue_commission(order)

    assert Transaction.objects.count() == transactions
    assert Accrual.objects.filter(order=order).count() == 3
    assert pending(member.pk) == 59


def test_a_sku_without_commission_accrues_nothing():
    staff = MerchantStaffFactory()
    free = SkuFactory(product__merchant=staff.merchant, price_fen=500, commission_bps=0)
    store, _, (member,) = make_store(members=1)

    order = make_paid_order(buyer=member, store=store, sku=free)

    assert not Accrual.objects.filter(order=order).exists()
    assert not Transaction.objects.filter(kind="commission_accrued").exists()

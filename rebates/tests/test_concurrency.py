"""Settlement under real concurrency on PostgreSQL.

A completed order's settlement task can run twice (``acks_late`` redelivery), alongside
the catch-up sweeper's batches that overlap it, and alongside payments of new orders in
the same store. Whatever the interleaving, every accrual is settled exactly once, the
wallets hold exactly the commission split, nothing deadlocks and the ledger balances.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from groupstore.models import Membership, StoreStats
from groupstore.services import membership_get_or_create
from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.models import Order
from products.tests.factories import SkuFactory
from rebates.models import Accrual
from rebates.selectors import wallet_get
from rebates.services.settlement import orders_settle
from rebates.tests.helpers import make_completed_orders, make_pending_order, sandbox_pay
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.services import Applied
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

# 1 × ¥19.90 at 10 %: commission 199 = 59 (member) + 119 (owner) + 21 (platform).
PRICE_FEN, MEMBER_FEN, OWNER_FEN, PLATFORM_FEN = 1_990, 59, 119, 21
# At settlement half the platform's 21 (10) funds the store's red envelope and the
# platform's 60 bps fee on the goods (floor(1,990 × 0.006) = 11) is revenue too.
REVENUE_PER_ORDER_FEN = PLATFORM_FEN - 10 + 11


def _platform(kind: str) -> int:
    return account_balance(ref=AccountRef.platform(kind))


def _assert_settled_once(orders: list[Order], *, paid_meanwhile: int = 0) -> None:
    """Every accrual of these orders settled, each wallet and store figure credited once
    (``paid_meanwhile`` more orders of one store were paid and are still pending)."""
    order_ids = [o.pk for o in orders]
    assert set(Accrual.objects.filter(order_id__in=order_ids).values_list("status", flat=True)) == {
        Accrual.Status.SETTLED
    }
    settlements = Transaction.objects.filter(kind="commission_settled")
    assert sorted(settlements.values_list("idempotency_key", flat=True)) == sorted(
        f"order:{pk}:settle" for pk in order_ids
    )
    for order in orders:
        assert wallet_get(user_id=order.buyer_id).available_fen == MEMBER_FEN
        assert wallet_get(user_id=order.buyer_id).pending_fen == 0
        membership = Membership.objects.get(store_id=order.store_id, user_id=order.buyer_id)
        assert (membership.rebate_fen, membership.saved_fen) == (MEMBER_FEN, MEMBER_FEN)
    orders_by_store: dict[int, int] = {}
    for order in orders:
        orders_by_store[order.store_id] = orders_by_store.get(order.store_id, 0) + 1
    for store_id, count in orders_by_store.items():
        stats = StoreStats.objects.select_related("store").get(store_id=store_id)
        pending_fen = paid_meanwhile * OWNER_FEN
        assert (stats.commission_pending_fen, stats.commission_settled_fen) == (
            pending_fen,
            count * OWNER_FEN,
        )
        assert wallet_get(user_id=stats.store.owner_id).available_fen == count * OWNER_FEN
        assert wallet_get(user_id=stats.store.owner_id).pending_fen == pending_fen
    assert _platform(Account.Kind.PLATFORM_REVENUE) == len(orders) * REVENUE_PER_ORDER_FEN
    assert _platform(Account.Kind.PLATFORM_PENDING) == paid_meanwhile * PLATFORM_FEN
    call_command("ledger_check")


def test_six_workers_settling_the_same_twenty_orders_settle_each_once():
    # given 20 completed orders in one store, their accruals still pending
    store, _, buyers = make_store(members=20)
    sku = SkuFactory(price_fen=PRICE_FEN, commission_bps=1_000, on_hand=20)
    orders = make_completed_orders(buyers=buyers, store=store, sku=sku)
    assert Accrual.objects.filter(status=Accrual.Status.PENDING).count() == 60

    # when six workers settle the same batch at once (redelivered task, sweeper, ...)
    order_ids = [o.pk for o in orders]
    settled = run_concurrently(lambda i: orders_settle(order_ids=order_ids), times=6)

    # then no worker failed, and together they settled each order once
    assert all(isinstance(n, int) for n in settled), settled
    assert sum(settled) == 20
    _assert_settled_once(orders)
    # and settling again pays nothing
    assert orders_settle(order_ids=order_ids) == 0
    assert wallet_get(user_id=store.owner_id).available_fen == 20 * OWNER_FEN


def test_overlapping_batches_across_two_stores_settle_each_order_once_without_deadlock():
    # given 20 completed orders alternating between two stores (X Y Y X X Y Y X ...), so
    # neighbouring batches meet the two owners' wallets in opposite orders, and nobody
    # has an available-balance account yet (the first settlement creates it); the batches
    # overlap each other, as a redelivered task and the catch-up sweeper's batches do
    merchant_user = MerchantStaffFactory()
    sku = SkuFactory(
        product__merchant=merchant_user.merchant, price_fen=PRICE_FEN, commission_bps=1_000, on_hand=20
    )
    store_x, _, _ = make_store(name="X")
    store_y, _, _ = make_store(name="Y")
    orders = []
    for i in range(20):
        store = store_x if i % 4 in (0, 3) else store_y
        buyer = UserFactory()
        membership_get_or_create(store=store, user=buyer, via=None, now=store.created_at)
        orders += make_completed_orders(
            buyers=[buyer], store=store, sku=sku, merchant_user=merchant_user.user
        )
    ids = [o.pk for o in orders]
    batches = [ids[0:2], ids[2:4], ids[4:6], ids[6:8], ids[8:14], ids[12:18], ids[16:], ids[::-1][:9]]

    # when the batches are settled at once
    settled = run_concurrently(lambda i: orders_settle(order_ids=batches[i]), times=len(batches))

    # then no batch failed (no deadlock), and each order was settled by exactly one of them
    assert all(isinstance(n, int) for n in settled), settled
    assert sum(settled) == 20
    _assert_settled_once(orders)


def test_settling_a_store_while_new_orders_in_it_are_paid_never_deadlocks():
    # given 10 completed orders in a store, and 10 unpaid ones by other members of it
    store, _, buyers = make_store(members=20)
    sku = SkuFactory(price_fen=PRICE_FEN, commission_bps=1_000, on_hand=20)
    completed = make_completed_orders(buyers=buyers[:10], store=store, sku=sku)
    unpaid = [make_pending_order(buyer=b, store=store, sku=sku) for b in buyers[10:]]

    # when settlement of each completed order runs while the unpaid ones are paid
    def work(i: int):
        if i % 2 == 0:
            return orders_settle(order_ids=[completed[i // 2].pk])
        return sandbox_pay(unpaid[i // 2].payment)

    results = run_concurrently(work, times=20)

    # then every settlement and every payment went through
    assert results[0::2] == [1] * 10, results
    assert results[1::2] == [Applied.APPLIED] * 10, results
    _assert_settled_once(completed, paid_meanwhile=10)
    assert set(Order.objects.filter(pk__in=[o.pk for o in unpaid]).values_list("status", flat=True)) == {
        Order.Status.PAID
    }
    stats = StoreStats.objects.get(store=store)
    assert (stats.orders_count, stats.gmv_fen) == (20, 20 * PRICE_FEN)
    assert [wallet_get(user_id=b.pk).pending_fen for b in buyers[10:]] == [MEMBER_FEN] * 10


def test_batches_of_two_stores_sharing_members_settle_at_once_without_deadlock():
    # given members m and k of two stores X and Y, each with a completed order in both,
    # bought so that X's batch settles m before k and Y's batch k before m, and neither
    # has an available-balance account yet: the two batches share no store and no
    # accrual, only the wallets they create (a fresh pair each round)
    merchant_user = MerchantStaffFactory()
    sku = SkuFactory(
        product__merchant=merchant_user.merchant, price_fen=PRICE_FEN, commission_bps=1_000, on_hand=100
    )
    orders: list[Order] = []
    for _ in range(5):
        store_x, _, _ = make_store(name="X")
        store_y, _, _ = make_store(name="Y")
        m, k = UserFactory(), UserFactory()
        for store in (store_x, store_y):
            for user in (m, k):
                membership_get_or_create(store=store, user=user, via=None, now=store.created_at)
        batch_x = make_completed_orders(
            buyers=[m, k], store=store_x, sku=sku, merchant_user=merchant_user.user
        )
        batch_y = make_completed_orders(
            buyers=[k, m], store=store_y, sku=sku, merchant_user=merchant_user.user
        )
        batches = [[o.pk for o in batch_x], [o.pk for o in batch_y]]

        # when both batches settle at once
        settled = run_concurrently(lambda i, batches=batches: orders_settle(order_ids=batches[i]), times=2)

        # then neither failed, and each member was paid both rebates
        assert settled == [2, 2], settled
        assert wallet_get(user_id=m.pk).available_fen == 2 * MEMBER_FEN
        assert wallet_get(user_id=k.pk).available_fen == 2 * MEMBER_FEN
        orders += batch_x + batch_y
    assert sorted(
        Transaction.objects.filter(kind="commission_settled").values_list("ref_id", flat=True)
    ) == sorted(o.pk for o in orders)
    assert _platform(Account.Kind.PLATFORM_REVENUE) == len(orders) * REVENUE_PER_ORDER_FEN
    call_command("ledger_check")

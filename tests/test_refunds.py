"""Refunds of orders and what they undo: stock, commission (cancelled before settlement,
clawed back after), the merchant's money, the store's figures — with exact fen.

The worked example of docs/design.md: 1,990 fen at 1,000 bps → commission 199 = member 59 +
owner 119 + platform 21; the merchant's receivable is 1,990 − 199 = 1,791.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from groupstore.models import Membership, StoreStats
from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.errors import IllegalOrderTransition, InvalidRefund
from orders.models import Order, OrderEvent
from orders.services.lifecycle import order_ship
from orders.services.refunds import RefundLine, order_refund, order_refund_full
from products.tests.factories import SkuFactory
from rebates.models import Accrual
from rebates.services.settlement import orders_settle
from rebates.tests.helpers import make_completed_orders, make_paid_order
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import Refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku():
    staff = MerchantStaffFactory()
    return SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000, on_hand=10)


def balance(kind: str, owner_id: int = 0, owner: str = "user") -> int:
    return account_balance(ref=AccountRef(kind, owner, owner_id))


def receivable(merchant_id: int) -> int:
    return balance(Account.Kind.MERCHANT_RECEIVABLE, merchant_id, "merchant")


def kept(order) -> dict[str, int]:
    return {
        a.kind: a.amount_fen - a.cancelled_fen - a.clawed_back_fen
        for a in Accrual.objects.filter(order=order)
    }


def ledger_ok() -> None:
    call_command("ledger_check")  # raises SystemExit on any imbalance


def test_half_refund_before_settlement_cancels_half_of_each_share_rounding_kept_money_down(sku):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    item = order.items.get()

    refund = order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=item.pk, amount_fen=995)],
        reason="少发一件",
        key="t1",
    )

    # kept = floor(share × 995 / 1990): 29, 59, 10 — never more than was funded
    assert kept(order) == {"member_rebate": 29, "owner_commission": 59, "platform": 10}
    assert balance(Account.Kind.USER_PENDING, member.pk) == 29
    assert balance(Account.Kind.USER_PENDING, store.owner_id) == 59
    # the merchant gives back 995 and gets back the commission it no longer owes (30 + 60 + 11)
    assert receivable(sku.merchant_id) == 1_791 - 995 + 101
    assert refund.amount_fen == 995
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (Order.Status.PAID, 995)
    stats = StoreStats.objects.get(store=store)
    assert (stats.gmv_fen, stats.net_paid_fen, stats.commission_pending_fen) == (1_990, 995, 59)
    assert Membership.objects.get(store=store, user=member).paid_fen == 995
    ledger_ok()


def test_two_partial_refunds_end_where_one_full_refund_would(sku):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    item = order.items.get()

    order_refund(
        order_id=order.pk, lines=[RefundLine(order_item_id=item.pk, amount_fen=333)], reason="a", key="a"
    )
    order_refund(
        order_id=order.pk, lines=[RefundLine(order_item_id=item.pk, amount_fen=1_657)], reason="b", key="b"
    )

    assert kept(order) == {"member_rebate": 0, "owner_commission": 0, "platform": 0}
    assert balance(Account.Kind.USER_PENDING, member.pk) == 0
    assert receivable(sku.merchant_id) == 0
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert sum(Refund.objects.filter(payment=order.payment).values_list("amount_fen", flat=True)) == 1_990
    ledger_ok()


def test_full_refund_before_shipping_puts_every_unit_back_on_the_shelf(sku):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku, qty=3)
    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved) == (10, 3)

    order_refund_full(order_id=order.pk, reason="不想要了")

    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved, sku.available) == (10, 0, 10)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.REFUNDED).count() == 1


def test_refunding_one_unit_before_shipping_ships_only_the_rest(sku):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku, qty=2)
    item = order.items.get()
    staff = MerchantStaffFactory(merchant=sku.merchant)

    order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=item.pk, amount_fen=1_990, qty=1)],
        reason="x",
        key="one",
    )
    order_ship(
        order_id=order.pk, merchant_id=sku.merchant_id, carrier="SF", tracking_no="SF1234", actor=staff.user
    )

    sku.refresh_from_db()
    assert (sku.on_hand, sku.reserved) == (9, 0)


def test_the_same_key_refunds_once(sku):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    item = order.items.get()
    line = RefundLine(order_item_id=item.pk, amount_fen=500)

    first = order_refund(order_id=order.pk, lines=[line], reason="x", key="same")
    txs = Transaction.objects.count()
    second = order_refund(order_id=order.pk, lines=[line], reason="x", key="same")

    assert first.pk == second.pk
    assert Transaction.objects.count() == txs
    order.refresh_from_db()
    assert order.refunded_fen == 500
    assert order_refund_full(order_id=order.pk, reason="y").amount_fen == 1_490
    assert order_refund_full(order_id=order.pk, reason="y") is not None  # a repeat is a no-op
    order.refresh_from_db()
    assert order.refunded_fen == 1_990


@pytest.mark.parametrize(
    ("amount", "problem_field"),
    [(1_991, "items.0.amount_fen"), (0, "items.0.amount_fen"), (-5, "items.0.amount_fen")],
)
def test_a_refund_beyond_what_is_left_writes_nothing(sku, amount, problem_field):
    store, _, (member,) = make_store(members=1)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    item = order.items.get()
    txs = Transaction.objects.count()

    with pytest.raises(InvalidRefund) as refused:
        order_refund(
            order_id=order.pk,
            lines=[RefundLine(order_item_id=item.pk, amount_fen=amount)],
            reason="x",
            key="k",
        )

    assert problem_field in refused.value.fields
    assert Transaction.objects.count() == txs
    assert Refund.objects.count() == 0
    order.refresh_from_db()
    assert order.refunded_fen == 0


def test_an_item_of_another_order_is_refused(sku):
    store, _, (member, other) = make_store(members=2)
    order = make_paid_order(buyer=member, store=store, sku=sku)
    foreign = make_paid_order(buyer=other, store=store, sku=sku).items.get()

    with pytest.raises(InvalidRefund):
        order_refund(
            order_id=order.pk, lines=[RefundLine(order_item_id=foreign.pk, amount_fen=1)], reason="x", key="k"
        )
    assert Refund.objects.count() == 0


def test_after_settlement_only_ops_refund_and_that_claws_back_into_a_negative_wallet(sku):
    store, _, (member,) = make_store(members=1)
    (order,) = make_completed_orders(buyers=[member], store=store, sku=sku)
    orders_settle(order_ids=[order.pk])
    order.refresh_from_db()
    assert balance(Account.Kind.USER_AVAILABLE, member.pk) == 59

    with pytest.raises(IllegalOrderTransition):
        order_refund_full(order_id=order.pk, reason="late complaint")

    # the member has spent the rebate meanwhile? a clawback may take the wallet below zero
    order_refund_full(order_id=order.pk, reason="ops ruling", by_ops=True)

    assert kept(order) == {"member_rebate": 0, "owner_commission": 0, "platform": 0}
    assert Accrual.objects.get(order=order, kind="member_rebate").clawed_back_fen == 59
    assert balance(Account.Kind.USER_AVAILABLE, member.pk) == 0
    assert balance(Account.Kind.USER_AVAILABLE, store.owner_id) == 0
    stats = StoreStats.objects.get(store=store)
    assert (stats.commission_settled_fen, stats.commission_clawed_back_fen) == (119, 119)
    assert Membership.objects.get(store=store, user=member).rebate_fen == 0
    ledger_ok()


def test_an_unpaid_order_cannot_be_refunded(sku):
    from rebates.tests.helpers import make_pending_order

    store, _, (member,) = make_store(members=1)
    order = make_pending_order(buyer=member, store=store, sku=sku)

    with pytest.raises(IllegalOrderTransition):
        order_refund_full(order_id=order.pk, reason="x")
    assert Refund.objects.count() == 0

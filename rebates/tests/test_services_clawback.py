"""Refunds after settlement (ops rulings on completed, settled orders): every refund claws
back its own part of the settled commission, under its own ledger key, however many
refunds an order, a member or a store has (issue 13, step 1).

The worked example of docs/design.md: 1,990 fen at 1,000 bps → commission 199 = member 59 +
owner 119 + platform 21. At settlement the merchant's receivable left (1,990 − 199 =
1,791) moves to its payable less the platform fee (60 bps of 1,990 = 11): 1,780.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from groupstore.models import Membership, StoreStats
from groupstore.tests.factories import make_store
from merchants.tests.factories import MerchantStaffFactory
from orders.services.refunds import RefundLine, order_refund
from products.tests.factories import SkuFactory
from rebates.models import Accrual
from rebates.services.settlement import orders_settle
from rebates.tests.helpers import make_completed_orders
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef

pytestmark = pytest.mark.django_db

PAYABLE_AFTER_SETTLEMENT = 1_990 - 199 - 11


@pytest.fixture
def sku():
    staff = MerchantStaffFactory()
    return SkuFactory(product__merchant=staff.merchant, price_fen=1_990, commission_bps=1_000, on_hand=10)


def wallet(user_id: int) -> int:
    return account_balance(ref=AccountRef.user(Account.Kind.USER_AVAILABLE, user_id))


def payable(merchant_id: int) -> int:
    return account_balance(ref=AccountRef.merchant(Account.Kind.MERCHANT_PAYABLE, merchant_id))


def clawed(order) -> dict[str, int]:
    return dict(Accrual.objects.filter(order=order).values_list("kind", "clawed_back_fen"))


def ops_refund(order, amount_fen: int, key: str) -> None:
    item = order.items.get()
    order_refund(
        order_id=order.pk,
        lines=[RefundLine(order_item_id=item.pk, amount_fen=amount_fen)],
        reason="ops ruling on a late complaint",
        key=key,
        by_ops=True,
    )


def settled_orders(*, buyers, store, sku):
    orders = make_completed_orders(buyers=buyers, store=store, sku=sku)
    assert orders_settle(order_ids=[o.pk for o in orders]) == len(orders)
    return orders


def test_two_partial_refunds_of_one_settled_order_each_claw_back_their_own_part(sku):
    # given a settled order: the member has 59, the owner 119, the merchant 1,780 payable
    store, _, (member,) = make_store(members=1)
    (order,) = settled_orders(buyers=[member], store=store, sku=sku)
    assert (wallet(member.pk), wallet(store.owner_id), payable(sku.merchant_id)) == (
        59,
        119,
        PAYABLE_AFTER_SETTLEMENT,
    )

    # when ops refund half of it: kept = floor(share × 995 / 1,990) = 29, 59, 10
    ops_refund(order, 995, key="ruling-1")

    # then 30 + 60 + 11 = 101 fen of commission goes back to the merchant, which refunds 995
    assert clawed(order) == {"member_rebate": 30, "owner_commission": 60, "platform": 11}
    assert (wallet(member.pk), wallet(store.owner_id)) == (29, 59)
    assert payable(sku.merchant_id) == PAYABLE_AFTER_SETTLEMENT - 995 + 101
    call_command("ledger_check")

    # when ops refund the other half: nothing is kept of any share
    ops_refund(order, 995, key="ruling-2")

    # then the rest is clawed back too, under the second refund's own key
    assert clawed(order) == {"member_rebate": 59, "owner_commission": 119, "platform": 21}
    assert (wallet(member.pk), wallet(store.owner_id)) == (0, 0)
    # the whole commission came back to the merchant; the platform fee on the sale stays
    assert payable(sku.merchant_id) == PAYABLE_AFTER_SETTLEMENT - 1_990 + 199
    assert set(
        Transaction.objects.filter(kind="commission_refunded", ref_id=order.pk).values_list(
            "idempotency_key", flat=True
        )
    ) == {"ruling-1:commission", "ruling-2:commission"}
    assert Membership.objects.get(store=store, user=member).rebate_fen == 0
    stats = StoreStats.objects.get(store=store)
    assert (stats.commission_settled_fen, stats.commission_clawed_back_fen) == (119, 119)
    call_command("ledger_check")


def test_three_partial_refunds_of_one_settled_order_end_where_one_full_refund_would(sku):
    store, _, (member,) = make_store(members=1)
    (order,) = settled_orders(buyers=[member], store=store, sku=sku)

    for n, amount in enumerate((1, 995, 994)):
        ops_refund(order, amount, key=f"ruling-{n}")
        call_command("ledger_check")

    assert clawed(order) == {"member_rebate": 59, "owner_commission": 119, "platform": 21}
    assert (wallet(member.pk), wallet(store.owner_id)) == (0, 0)
    assert payable(sku.merchant_id) == PAYABLE_AFTER_SETTLEMENT - 1_990 + 199


def test_refunds_of_two_settled_orders_of_one_member_in_one_store_each_claw_back(sku):
    # given two settled orders of one member through one store
    store, _, (member,) = make_store(members=1)
    first, second = settled_orders(buyers=[member, member], store=store, sku=sku)
    assert (wallet(member.pk), wallet(store.owner_id)) == (2 * 59, 2 * 119)
    assert payable(sku.merchant_id) == 2 * PAYABLE_AFTER_SETTLEMENT

    # when ops refund each of them in full, one after the other
    ops_refund(first, 1_990, key="ruling-first")
    assert (wallet(member.pk), wallet(store.owner_id)) == (59, 119)
    assert payable(sku.merchant_id) == 2 * PAYABLE_AFTER_SETTLEMENT - 1_990 + 199
    call_command("ledger_check")
    ops_refund(second, 1_990, key="ruling-second")

    # then both clawbacks are booked: nothing is left in either wallet
    assert clawed(first) == clawed(second) == {"member_rebate": 59, "owner_commission": 119, "platform": 21}
    assert (wallet(member.pk), wallet(store.owner_id)) == (0, 0)
    assert payable(sku.merchant_id) == 2 * (PAYABLE_AFTER_SETTLEMENT - 1_990 + 199)
    assert Membership.objects.get(store=store, user=member).rebate_fen == 0
    call_command("ledger_check")


def test_interleaved_partial_refunds_of_two_settled_orders_are_all_booked(sku):
    store, _, (member,) = make_store(members=1)
    first, second = settled_orders(buyers=[member, member], store=store, sku=sku)

    ops_refund(first, 995, key="a")
    ops_refund(second, 995, key="b")
    ops_refund(first, 995, key="c")
    ops_refund(second, 995, key="d")

    assert (wallet(member.pk), wallet(store.owner_id)) == (0, 0)
    assert Transaction.objects.filter(kind="commission_refunded").count() == 4
    call_command("ledger_check")

"""Flash offers' price rule and coupons at checkout, with exact fen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.models import ShareReward
from groupstore.tests.factories import make_store
from orders.errors import (
    CouponMinSpendNotMet,
    CouponNotFound,
    CouponNotUsable,
    FlashLimitReached,
    FlashSoldOut,
)
from orders.models import Coupon, Order, OrderItem
from orders.services.checkout import checkout_quote
from orders.services.coupons import coupon_issue_for_share_reward, coupon_void, coupons_issue_share_rewards
from orders.services.lifecycle import order_cancel
from orders.services.sweepers import orders_cancel_unpaid
from products.tests.factories import SkuFactory
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import Payment

from .helpers import buy, buy_paid, coupon, flash_offer, unlock_flash

pytestmark = pytest.mark.django_db


def _quote(buyer, store, *skus_qty, **kw):
    return checkout_quote(
        buyer=buyer, store_id=store.pk, items=[{"sku_id": s.pk, "qty": q} for s, q in skus_qty], **kw
    )


def test_flash_price_needs_both_the_store_unlock_and_a_live_offer(settings):
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990)
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 10_000}
    flash_offer(sku=sku, price_fen=990)
    assert _quote(buyer, store, (sku, 1)).lines[0].price_kind == "normal"  # store not unlocked

    unlock_flash(settings)
    line = _quote(buyer, store, (sku, 1)).lines[0]
    assert (line.price_kind, line.unit_price_fen, line.discount_fen) == ("flash", 990, 1_000)

    other = SkuFactory(price_fen=1_990)  # no offer
    assert _quote(buyer, store, (other, 1)).lines[0].price_kind == "normal"


def test_flash_offer_window_bounds(settings):
    unlock_flash(settings)
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990)
    now = timezone.now()
    flash_offer(sku=sku, starts_at=now + timedelta(minutes=1), ends_at=now + timedelta(hours=1))
    assert _quote(buyer, store, (sku, 1), now=now).lines[0].price_kind == "normal"
    assert _quote(buyer, store, (sku, 1), now=now + timedelta(minutes=1)).lines[0].price_kind == "flash"
    assert _quote(buyer, store, (sku, 1), now=now + timedelta(hours=1)).lines[0].price_kind == "normal"


def test_flash_limits_refuse_and_write_nothing(settings):
    unlock_flash(settings)
    store, _, (a, b) = make_store(members=2)
    sku = SkuFactory(on_hand=50)
    offer = flash_offer(sku=sku, quantity=3, per_user_limit=2)
    with pytest.raises(FlashLimitReached):
        buy(buyer=a, store=store, sku=sku, qty=3)
    order = buy(buyer=a, store=store, sku=sku, qty=2).orders[0]
    assert order.items.get().flash_offer_id == offer.pk
    with pytest.raises(FlashLimitReached):
        buy(buyer=a, store=store, sku=sku, qty=1)
    with pytest.raises(FlashSoldOut):
        buy(buyer=b, store=store, sku=sku, qty=2)
    buy(buyer=b, store=store, sku=sku, qty=1)
    with pytest.raises(FlashSoldOut):
        _quote(b, store, (sku, 1))

    offer.refresh_from_db()
    sku.refresh_from_db()
    assert offer.sold_count == 3
    assert sku.reserved == 3
    assert Order.objects.count() == 2


def test_a_timed_out_flash_order_gives_its_units_back(settings):
    unlock_flash(settings)
    store, _, (a,) = make_store(members=1)
    sku = SkuFactory()
    offer = flash_offer(sku=sku, quantity=1)
    now = timezone.now()
    buy(buyer=a, store=store, sku=sku, now=now)

    orders_cancel_unpaid(now + timedelta(minutes=16))

    offer.refresh_from_db()
    assert offer.sold_count == 0


def test_a_coupon_is_split_over_orders_then_items_by_sale_amount_to_the_fen():
    store, _, (buyer,) = make_store(members=1)
    m1a, m2 = SkuFactory(price_fen=1_000), SkuFactory(price_fen=2_001)
    m1b = SkuFactory(product__merchant=m1a.merchant, price_fen=333)
    c = coupon(user=buyer, amount_fen=1_000, min_spend_fen=3_000)
    items = [{"sku_id": m1a.pk, "qty": 1}, {"sku_id": m1b.pk, "qty": 3}, {"sku_id": m2.pk, "qty": 1}]

    quote = checkout_quote(buyer=buyer, store_id=store.pk, items=items, coupon_id=c.pk)
    from orders.services.checkout import order_create

    from .helpers import ADDRESS

    result = order_create(
        buyer=buyer, store_id=store.pk, items=items, address=ADDRESS, gateway="sandbox", coupon_id=c.pk
    )

    # sale: merchant 1 = 1,000 + 999 = 1,999; merchant 2 = 2,001; total 4,000. Orders in merchant-id
    # order: the first takes floor(1,000 × its sale / 4,000), the last the rest.
    assert (quote.sale_fen, quote.coupon_fen, quote.paid_fen) == (4_000, 1_000, 3_000)
    by_merchant = {o.merchant_id: o for o in result.orders}
    first, second = (by_merchant[m] for m in sorted(by_merchant))
    expected_first = first.sale_fen * 1_000 // 4_000  # 499 or 500
    assert first.coupon_fen == expected_first
    assert second.coupon_fen == 1_000 - expected_first
    assert first.paid_fen == first.sale_fen - first.coupon_fen
    assert {o.sale_fen for o in result.orders} == {1_999, 2_001}
    m1 = by_merchant[m1a.merchant_id]
    a_item, b_item = m1.items.get(sku=m1a), m1.items.get(sku=m1b)
    assert a_item.coupon_fen == m1.coupon_fen * 1_000 // 1_999  # item sale 1,000 of 1,999
    assert b_item.coupon_fen == m1.coupon_fen - a_item.coupon_fen
    assert all(i.paid_fen == i.sale_fen - i.coupon_fen for i in OrderItem.objects.all())
    assert result.payment.amount_fen == 3_000
    c.refresh_from_db()
    assert (c.status, c.payment_id) == ("locked", result.payment.pk)


def test_coupon_split_exact_values_for_two_orders():
    store, _, (buyer,) = make_store(members=1)
    s1, s2 = SkuFactory(price_fen=1_000), SkuFactory(price_fen=2_000)
    s1b = SkuFactory(product__merchant=s1.merchant, price_fen=500)
    c = coupon(user=buyer, amount_fen=100)
    items = [{"sku_id": s1.pk, "qty": 1}, {"sku_id": s1b.pk, "qty": 1}, {"sku_id": s2.pk, "qty": 1}]
    quote = checkout_quote(buyer=buyer, store_id=store.pk, items=items, coupon_id=c.pk)
    by_sku = {line.sku.pk: line.coupon_fen for line in quote.lines}
    lower, higher = sorted([s1.merchant_id, s2.merchant_id])
    # orders by merchant id: 1,500 and 2,000 of 3,500 → floor(100×1500/3500)=42 then the rest
    if lower == s1.merchant_id:
        assert (by_sku[s1.pk] + by_sku[s1b.pk], by_sku[s2.pk]) == (42, 58)
        assert (by_sku[s1.pk], by_sku[s1b.pk]) == (28, 14)  # floor(42×1000/1500)=28, rest 14
    else:
        assert (by_sku[s2.pk], by_sku[s1.pk] + by_sku[s1b.pk]) == (57, 43)
        assert (by_sku[s1.pk], by_sku[s1b.pk]) == (28, 15)
    assert quote.paid_fen == 3_400


def test_paying_a_coupon_checkout_debits_the_marketing_budget():
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_990)
    c = coupon(user=buyer, amount_fen=500)
    budget = AccountRef.platform(Account.Kind.MARKETING_BUDGET)
    before = account_balance(ref=budget)

    order = buy_paid(buyer=buyer, store=store, sku=sku, coupon_id=c.pk)

    assert (order.sale_fen, order.coupon_fen, order.paid_fen) == (1_990, 500, 1_490)
    assert account_balance(ref=budget) - before == -500


def test_coupon_refusals_write_nothing():
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_000)
    theirs = coupon(user=UserFactory(), amount_fen=100)
    expired = coupon(user=buyer, amount_fen=100, expires_at=timezone.now() - timedelta(seconds=1))
    too_big = coupon(user=buyer, amount_fen=1_000)
    min_spend = coupon(user=buyer, amount_fen=100, min_spend_fen=1_001)
    void = coupon(user=buyer, amount_fen=100)
    coupon_void(coupon_id=void.pk)

    for c, error in [
        (theirs, CouponNotFound),
        (expired, CouponNotUsable),
        (void, CouponNotUsable),
        (too_big, CouponMinSpendNotMet),
        (min_spend, CouponMinSpendNotMet),
    ]:
        with pytest.raises(error):
            buy(buyer=buyer, store=store, sku=sku, coupon_id=c.pk)
    assert Order.objects.count() == 0
    assert Payment.objects.count() == 0
    assert set(Coupon.objects.filter(user=buyer).values_list("status", flat=True)) == {"usable", "withdrawn"}


def test_a_coupon_is_used_once_and_given_back_on_cancel():
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_000)
    c = coupon(user=buyer, amount_fen=100)
    order = buy(buyer=buyer, store=store, sku=sku, coupon_id=c.pk).orders[0]
    with pytest.raises(CouponNotUsable):
        buy(buyer=buyer, store=store, sku=sku, coupon_id=c.pk)

    order_cancel(order_id=order.pk, actor=buyer)

    c.refresh_from_db()
    assert (c.status, c.payment_id, c.used_at) == ("usable", None, None)
    assert buy(buyer=buyer, store=store, sku=sku, coupon_id=c.pk).orders[0].coupon_fen == 100


def _granted_reward(store, member):
    now = timezone.now()
    return ShareReward.objects.create(
        store=store,
        owner_id=store.owner_id,
        member=member,
        order_id=10**9 + member.pk,
        order_paid_fen=2_000,
        amount_fen=500,
        granted_at=now,
        granted_on=now.date(),
        daily_slot=1,
    )


def test_a_granted_share_reward_becomes_one_coupon_of_its_owner():
    store, _, (member,) = make_store(members=1)
    reward = _granted_reward(store, member)
    now = timezone.now()

    first = coupon_issue_for_share_reward(reward=reward, now=now)
    second = coupon_issue_for_share_reward(reward=reward, now=now)
    swept = coupons_issue_share_rewards(now)

    assert second is None
    assert swept == 0
    assert (first.user_id, first.amount_fen, first.status, first.source) == (
        store.owner_id,
        500,
        "usable",
        "share_reward",
    )
    assert first.expires_at == now + timedelta(days=30)
    reward.refresh_from_db()
    assert reward.status == "issued"
    assert Coupon.objects.count() == 1


def test_the_sweeper_issues_coupons_of_granted_rewards():
    store, _, (member,) = make_store(members=1)
    reward = _granted_reward(store, member)

    assert coupons_issue_share_rewards(timezone.now()) == 1

    assert Coupon.objects.get().source_ref == f"share_reward:{reward.pk}"

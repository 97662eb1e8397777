"""Coupons under real concurrency on PostgreSQL (threads, own connections): one coupon is
taken by one checkout only, a code's cap and once-per-person hold, and two launches cannot
both draw the same marketing budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from orders.errors import (
    CouponCampaignExhausted,
    CouponCodeAlreadyRedeemed,
    CouponNotUsable,
    MarketingBudgetShort,
)
from orders.models import Coupon, CouponCampaign, Order
from orders.services.checkout import CheckoutResult
from orders.services.coupons import coupon_campaign_launch, coupon_redeem, marketing_budget_allocate
from orders.services.lifecycle import order_cancel
from products.tests.factories import SkuFactory
from shop.ledger.models import Account
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef
from shop.payments.models import Payment
from shop.testing.concurrency import run_concurrently

from .helpers import buy, coupon

pytestmark = pytest.mark.django_db(transaction=True)


def _campaign(*, code: str, cap_fen: int, amount_fen: int = 500) -> CouponCampaign:
    now = timezone.now()
    return CouponCampaign.objects.create(
        title="限时券",
        audience="code",
        code=code,
        amount_fen=amount_fen,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
        cap_fen=cap_fen,
    )


def test_two_concurrent_checkouts_with_one_coupon_exactly_one_succeeds_and_a_cancel_frees_it():
    store, _, (buyer,) = make_store(members=1)
    sku = SkuFactory(price_fen=1_000, on_hand=10)
    c = coupon(user=buyer, amount_fen=300)

    results = run_concurrently(lambda i: buy(buyer=buyer, store=store, sku=sku, coupon_id=c.pk), times=2)

    won = [r for r in results if isinstance(r, CheckoutResult)]
    assert len(won) == 1, results
    assert sum(isinstance(r, CouponNotUsable) for r in results) == 1, results
    assert Order.objects.count() == Payment.objects.count() == 1
    c.refresh_from_db()
    assert (c.status, c.payment_id) == ("locked", won[0].payment.pk)

    order_cancel(order_id=won[0].orders[0].pk, actor=buyer)

    c.refresh_from_db()
    assert c.status == "usable"
    assert buy(buyer=buyer, store=store, sku=sku, coupon_id=c.pk).orders[0].coupon_fen == 300


def test_concurrent_redeems_never_pass_the_cap_nor_give_one_person_two():
    marketing_budget_allocate(amount_fen=10_000)
    campaign = _campaign(code="RUSH", cap_fen=1_500)  # three coupons
    coupon_campaign_launch(campaign_id=campaign.pk)
    people = [UserFactory() for _ in range(8)]

    results = run_concurrently(lambda i: coupon_redeem(user=people[i], code="RUSH"), times=8)

    assert sum(isinstance(r, Coupon) for r in results) == 3, results
    assert sum(isinstance(r, CouponCampaignExhausted) for r in results) == 5, results
    campaign.refresh_from_db()
    assert campaign.issued_count == 3 == Coupon.objects.filter(campaign=campaign).count()

    again = UserFactory()
    other = _campaign(code="TWICE", cap_fen=5_000)
    coupon_campaign_launch(campaign_id=other.pk)
    results = run_concurrently(lambda i: coupon_redeem(user=again, code="TWICE"), times=4)
    assert sum(isinstance(r, Coupon) for r in results) == 1, results
    assert sum(isinstance(r, CouponCodeAlreadyRedeemed) for r in results) == 3, results
    other.refresh_from_db()
    assert other.issued_count == 1


def test_two_launches_cannot_both_draw_a_budget_that_covers_one():
    marketing_budget_allocate(amount_fen=1_000)
    campaigns = [_campaign(code=f"C{i}", cap_fen=800) for i in range(2)]

    results = run_concurrently(lambda i: coupon_campaign_launch(campaign_id=campaigns[i].pk), times=2)

    assert sum(isinstance(r, CouponCampaign) for r in results) == 1, results
    assert sum(isinstance(r, MarketingBudgetShort) for r in results) == 1, results
    assert account_balance(ref=AccountRef.platform(Account.Kind.MARKETING_BUDGET)) == 200

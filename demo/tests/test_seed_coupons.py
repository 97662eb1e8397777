"""seed_demo's coupon campaign: a redeemable code, funded once, books in balance."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from orders.models import CouponCampaign, MarketingBudgetAllocation
from orders.services.coupons import coupon_redeem

pytestmark = pytest.mark.django_db


def test_seed_demo_twice_gives_one_funded_code_that_shoppers_can_redeem():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    campaign = CouponCampaign.objects.get(code="DEMO5")
    assert (campaign.status, campaign.reserved_fen) == ("active", 50_000)
    assert MarketingBudgetAllocation.objects.count() == 1
    assert coupon_redeem(user=UserFactory(), code="demo5").amount_fen == 500
    call_command("ledger_check", stdout=io.StringIO())

"""Red envelopes: funding at settlement, claims, expiry (docs/design.md, exact fen)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from groupstore.models import Membership, Store
from groupstore.services import membership_get_or_create
from groupstore.tests.factories import make_store
from products.tests.factories import SkuFactory
from rebates.errors import EnvelopeAlreadyClaimed, EnvelopeEmpty, EnvelopeExpired, EnvelopeNotEligible
from rebates.models import RedEnvelope, RedEnvelopeCampaign, RedEnvelopeClaim
from rebates.selectors import wallet_get
from rebates.services.envelopes import (
    envelope_draw,
    envelope_pools_check,
    red_envelope_claim,
    red_envelopes_expire_due,
    store_envelope_pool,
)
from rebates.services.settlement import orders_settle
from shop.errors import NotFound
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balance
from shop.ledger.services import AccountRef

from .helpers import make_campaign, make_completed_orders

pytestmark = pytest.mark.django_db

REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)
MARKETING = AccountRef.platform(Account.Kind.MARKETING_BUDGET)


@pytest.fixture
def sku():
    return SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=50)


def settle_one(store, buyer, sku) -> RedEnvelope | None:
    (order,) = make_completed_orders(buyers=[buyer], store=store, sku=sku)
    assert orders_settle(order_ids=[order.pk]) == 1
    return RedEnvelope.objects.filter(order=order).first()


def test_a_completed_order_funds_an_envelope_from_half_the_platform_remainder(sku):
    store, _, members = make_store(members=3)

    envelope = settle_one(store, members[0], sku)

    # platform remainder 21 fen; 5,000 bps of it = 10 fen; K = min(10 shares, 10 fen)
    assert (envelope.source, envelope.total_fen, envelope.shares) == ("order", 10, 10)
    assert envelope.expires_at == envelope.funded_at + timedelta(hours=24)
    assert account_balance(ref=store_envelope_pool(store.pk)) == 10  # the store's pool
    assert account_balance(ref=REVENUE) == 21 - 10 + 11  # + the 60 bps merchant fee
    # one ledger transaction settles the order: accruals, envelope and merchant together
    (settle,) = Transaction.objects.filter(
        ref_type="order", ref_id=envelope.order_id, kind="commission_settled"
    )
    assert settle.idempotency_key == f"order:{envelope.order_id}:settle"
    lines = dict(
        settle.entries.values_list("account__kind", "amount_fen").exclude(account__owner_type="user")
    )
    assert lines["platform_revenue"] == 21 - 10 + 11  # one netted line, not three
    call_command("ledger_check")


def test_settling_twice_funds_one_envelope(sku):
    store, _, (member,) = make_store(members=1)
    (order,) = make_completed_orders(buyers=[member], store=store, sku=sku)

    assert orders_settle(order_ids=[order.pk]) == 1
    assert orders_settle(order_ids=[order.pk]) == 0

    assert RedEnvelope.objects.filter(order=order).count() == 1
    assert Transaction.objects.filter(kind="commission_settled").count() == 1


def test_a_frozen_store_funds_no_envelope(sku):
    store, _, (member,) = make_store(members=1)
    (order,) = make_completed_orders(buyers=[member], store=store, sku=sku)
    Store.objects.filter(pk=store.pk).update(is_frozen=True)

    orders_settle(order_ids=[order.pk])

    assert not RedEnvelope.objects.exists()
    assert account_balance(ref=REVENUE) == 21 + 11


def test_a_campaign_pays_for_envelopes_until_its_budget_runs_out(sku):
    store, _, members = make_store(members=3)
    other_store, _, (stranger,) = make_store(members=1)
    campaign = make_campaign(budget_fen=1_500, envelope_fen=700, shares=7, stores=[store])

    first = settle_one(store, members[0], sku)
    second = settle_one(store, members[1], sku)
    third = settle_one(store, members[2], sku)  # 1,400 spent: 700 more would pass 1,500
    elsewhere = settle_one(other_store, stranger, sku)  # not one of the campaign's stores

    assert [(e.source, e.total_fen, e.shares) for e in (first, second)] == [("campaign", 700, 7)] * 2
    assert (third.source, third.total_fen) == ("order", 10)
    assert (elsewhere.source, elsewhere.total_fen) == ("order", 10)
    campaign.refresh_from_db()
    assert campaign.spent_fen == 1_400
    assert account_balance(ref=MARKETING) == -1_400
    # the campaign's envelopes leave the orders' platform remainder whole
    assert account_balance(ref=REVENUE) == 4 * 11 + 2 * 21 + 2 * (21 - 10)
    call_command("ledger_check")


def test_claims_pay_members_and_sum_exactly_to_the_total(sku):
    store, _, members = make_store(members=4)
    make_campaign(budget_fen=100, envelope_fen=100, shares=3)  # all stores
    envelope = settle_one(store, members[0], sku)

    claims = [red_envelope_claim(envelope_id=envelope.pk, user=m) for m in members[:3]]

    assert sum(c.amount_fen for c in claims) == 100
    assert all(c.amount_fen >= 1 for c in claims)
    for claim, member in zip(claims, members, strict=False):
        assert wallet_get(user_id=member.pk).available_fen == claim.amount_fen + (
            59 if member == members[0] else 0
        )
        membership = Membership.objects.get(store=store, user=member)
        assert membership.envelope_fen == claim.amount_fen
    envelope.refresh_from_db()
    assert (envelope.remaining_fen, envelope.remaining_shares, envelope.status) == (0, 0, "empty")
    with pytest.raises(EnvelopeEmpty):
        red_envelope_claim(envelope_id=envelope.pk, user=members[3])
    assert RedEnvelopeClaim.objects.count() == 3
    call_command("ledger_check")


def test_a_member_claims_once_and_outsiders_and_latecomers_get_nothing(sku):
    store, _, (member,) = make_store(members=1)
    envelope = settle_one(store, member, sku)
    outsider = UserFactory()
    latecomer = UserFactory()
    membership_get_or_create(store=store, user=latecomer, via=None, now=timezone.now())

    red_envelope_claim(envelope_id=envelope.pk, user=member)
    with pytest.raises(EnvelopeAlreadyClaimed):
        red_envelope_claim(envelope_id=envelope.pk, user=member)
    with pytest.raises(NotFound):
        red_envelope_claim(envelope_id=envelope.pk, user=outsider)
    with pytest.raises(EnvelopeNotEligible):
        red_envelope_claim(envelope_id=envelope.pk, user=latecomer)

    assert RedEnvelopeClaim.objects.filter(envelope=envelope).count() == 1
    assert wallet_get(user_id=latecomer.pk).available_fen == 0


def test_unclaimed_money_returns_to_its_source_once(sku):
    store, _, members = make_store(members=2)
    make_campaign(budget_fen=500, envelope_fen=500, shares=5, stores=[store])
    campaign_envelope = settle_one(store, members[0], sku)
    RedEnvelopeCampaign.objects.update(is_active=False)
    order_envelope = settle_one(store, members[1], sku)
    claim = red_envelope_claim(envelope_id=campaign_envelope.pk, user=members[1])
    revenue_before = account_balance(ref=REVENUE)
    later = timezone.now() + timedelta(hours=24, minutes=1)

    assert red_envelopes_expire_due(later) == 2
    assert red_envelopes_expire_due(later) == 0  # the second sweep finds nothing

    assert account_balance(ref=MARKETING) == -500 + (500 - claim.amount_fen)
    assert account_balance(ref=REVENUE) == revenue_before + 10
    for envelope in (campaign_envelope, order_envelope):
        envelope.refresh_from_db()
        assert envelope.status == "expired"
    assert account_balance(ref=store_envelope_pool(store.pk)) == 0
    with pytest.raises(EnvelopeExpired):
        red_envelope_claim(envelope_id=order_envelope.pk, user=members[0], now=later)
    call_command("ledger_check")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=100), st.randoms())
def test_the_draw_always_gives_every_share_at_least_one_fen_and_sums_to_the_total(total, shares, rnd):
    shares = min(shares, total)  # K = min(configured shares, total fen)
    remaining, amounts = total, []
    for left in range(shares, 0, -1):
        amount = envelope_draw(remaining_fen=remaining, shares_left=left, randbelow=rnd.randrange)
        upper = remaining if left == 1 else min(2 * remaining // left, remaining - (left - 1))
        assert 1 <= amount <= upper
        amounts.append(amount)
        remaining -= amount
    assert remaining == 0
    assert sum(amounts) == total
    assert min(amounts) >= 1


def test_a_store_pool_holds_the_rest_of_its_open_envelopes(sku):
    # given two envelopes of one store, one partly claimed
    store, _, members = make_store(members=3)
    first = settle_one(store, members[0], sku)
    second = settle_one(store, members[1], sku)
    claim = red_envelope_claim(envelope_id=first.pk, user=members[2])

    # then the pool holds what both still have, and the check agrees
    assert account_balance(ref=store_envelope_pool(store.pk)) == 10 + 10 - claim.amount_fen
    assert envelope_pools_check() == []
    call_command("ledger_check")

    # when an envelope's figure drifts from its pool (a bug), the check says so
    RedEnvelope.objects.filter(pk=second.pk).update(remaining_fen=9, remaining_shares=9)
    assert envelope_pools_check() == [
        f"store {store.pk}'s envelope pool holds {20 - claim.amount_fen} fen, "
        f"its open envelopes {19 - claim.amount_fen} fen, difference +1 fen"
    ]
    with pytest.raises(CommandError):
        call_command("ledger_check", stderr=io.StringIO())

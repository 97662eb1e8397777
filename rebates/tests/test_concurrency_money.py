"""Red-envelope claims and withdrawals under real concurrency on PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from groupstore.tests.factories import make_store
from products.tests.factories import SkuFactory
from rebates.errors import EnvelopeEmpty, WithdrawalBalanceShort
from rebates.models import RedEnvelope, RedEnvelopeClaim, Withdrawal
from rebates.selectors import wallet_get
from rebates.services.envelopes import red_envelope_claim
from rebates.services.settlement import orders_settle
from rebates.services.withdrawals import withdrawal_create
from shop.testing.concurrency import run_concurrently

from .helpers import fund_wallet, make_campaign, make_completed_orders

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_members_claiming_a_ten_share_envelope_make_exactly_ten_claims():
    # given an envelope of ¥10.00 in 10 shares and 50 members who joined before it
    store, _, members = make_store(members=50)
    make_campaign(budget_fen=1_000, envelope_fen=1_000, shares=10, stores=[store])
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=5)
    (order,) = make_completed_orders(buyers=[members[0]], store=store, sku=sku)
    orders_settle(order_ids=[order.pk])
    envelope = RedEnvelope.objects.get(order=order)

    # when all 50 claim at once
    results = run_concurrently(
        lambda i: red_envelope_claim(envelope_id=envelope.pk, user=members[i]), times=50
    )

    # then exactly 10 won, each at least 1 fen, summing to the total; the rest got 409
    won = [r for r in results if isinstance(r, RedEnvelopeClaim)]
    lost = [r for r in results if not isinstance(r, RedEnvelopeClaim)]
    assert len(won) == 10
    assert all(isinstance(r, EnvelopeEmpty) for r in lost), lost
    assert sum(c.amount_fen for c in won) == 1_000
    assert min(c.amount_fen for c in won) >= 1
    assert (
        sum(RedEnvelopeClaim.objects.filter(envelope=envelope).values_list("amount_fen", flat=True)) == 1_000
    )
    envelope.refresh_from_db()
    assert (envelope.remaining_fen, envelope.remaining_shares) == (0, 0)
    call_command("ledger_check")


def test_of_eight_concurrent_withdrawals_of_a_whole_balance_exactly_one_succeeds(settings):
    # given a wallet of ¥50.00
    store, _, (member,) = make_store(members=1)
    fund_wallet(member, 5_000)

    # when eight withdrawals of all of it race
    results = run_concurrently(lambda i: withdrawal_create(user=member, amount_fen=5_000), times=8)

    # then one holds the money and seven were refused with nothing written
    won = [r for r in results if isinstance(r, Withdrawal)]
    assert len(won) == 1, results
    assert all(isinstance(r, WithdrawalBalanceShort) for r in results if r not in won), results
    assert Withdrawal.objects.count() == 1
    wallet = wallet_get(user_id=member.pk)
    assert (wallet.available_fen, wallet.held_fen) == (0, 5_000)
    call_command("ledger_check")

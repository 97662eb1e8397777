"""Invitation codes and the share reward under real concurrency on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from accounts.tests.factories import UserFactory
from groupstore.errors import InvitationCodeUsedUp
from groupstore.models import InvitationCode, Leader, ShareReward
from groupstore.services import leader_register, share_reward_consider, store_join, store_stats_record_payment
from groupstore.tests.factories import make_invitation_code, make_store
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_twenty_shoppers_racing_for_a_five_use_code_make_exactly_five_leaders():
    code = make_invitation_code(max_uses=5)
    users = UserFactory.create_batch(20)

    results = run_concurrently(lambda i: leader_register(user=users[i], invitation_code=code.code), times=20)

    winners = [r for r in results if isinstance(r, tuple)]
    assert len(winners) == 5
    assert all(isinstance(r, InvitationCodeUsedUp) for r in results if not isinstance(r, tuple))
    assert InvitationCode.objects.get(pk=code.pk).used_count == 5
    assert Leader.objects.count() == 5


def test_one_shopper_registering_ten_times_at_once_uses_the_code_once():
    code = make_invitation_code(max_uses=10)
    user = UserFactory()

    results = run_concurrently(lambda i: leader_register(user=user, invitation_code=code.code), times=10)

    assert all(isinstance(r, tuple) for r in results), results
    assert sum(created for _, created in results) == 1
    assert Leader.objects.filter(user=user).count() == 1
    assert InvitationCode.objects.get(pk=code.pk).used_count == 1


def _first_member_paid(store, token):
    buyer = UserFactory()
    store_join(user=buyer, share_token=token, now=NOON - timedelta(days=1))
    store_stats_record_payment(store_id=store.pk, buyer_id=buyer.pk, paid_fen=2_000, discount_fen=0)
    return buyer


def test_six_rewards_due_to_one_owner_at_once_grant_three():
    # given one owner with six stores, each with a first member who paid
    owner = UserFactory()
    cases = []
    for _ in range(6):
        store, token, _ = make_store(owner=owner)
        cases.append((store, _first_member_paid(store, token)))

    # when all six first orders complete at the same moment
    results = run_concurrently(
        lambda i: share_reward_consider(
            store_id=cases[i][0].pk, buyer_id=cases[i][1].pk, order_id=1_000 + i, paid_fen=2_000, now=NOON
        ),
        times=6,
    )

    # then the daily cap held: three rewards, slots 1..3, no errors
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r is not None for r in results) == 3
    assert sorted(ShareReward.objects.values_list("daily_slot", flat=True)) == [1, 2, 3]


def test_one_store_asked_eight_times_at_once_grants_one_reward():
    store, token, _ = make_store()
    buyer = _first_member_paid(store, token)

    results = run_concurrently(
        lambda i: share_reward_consider(
            store_id=store.pk, buyer_id=buyer.pk, order_id=2_000 + i, paid_fen=2_000, now=NOON
        ),
        times=8,
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r is not None for r in results) == 1
    assert ShareReward.objects.filter(store=store).count() == 1

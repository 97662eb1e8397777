"""The share reward rule (docs/design.md "Group store"), called as orders calls it when an
order completes. The member's paid figure is pushed first, as the payment did.
The whole path through real orders is in tests/test_groupstore_flows.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.models import ShareReward
from groupstore.services import (
    membership_get_or_create,
    share_reward_consider,
    share_reward_mark_issued,
    store_freeze,
    store_join,
    store_stats_record_payment,
    store_stats_record_refund,
)
from groupstore.tests.factories import make_store
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)
_order_ids = iter(range(10_000, 99_999))


def joined_store(*, owner=None, buyers: int = 1):
    """A store and ``buyers`` users who joined through its share link, in order."""
    store, token, _ = make_store(owner=owner)
    users = []
    for i in range(buyers):
        user = UserFactory()
        store_join(user=user, share_token=token, now=NOON - timedelta(days=1, minutes=buyers - i))
        users.append(user)
    return store, users


def complete(store, buyer, *, paid_fen: int = 1_000, now=NOON):
    """What orders does: the payment pushed the member's figures; completion asks."""
    order_id = next(_order_ids)
    store_stats_record_payment(store_id=store.pk, buyer_id=buyer.pk, paid_fen=paid_fen, discount_fen=0)
    return share_reward_consider(
        store_id=store.pk, buyer_id=buyer.pk, order_id=order_id, paid_fen=paid_fen, now=now
    )


def test_the_first_link_member_completing_a_first_order_of_ten_yuan_earns_the_owner_a_reward():
    # given a store whose first member joined through its link
    store, (first,) = joined_store()

    # when that member's first order of exactly ¥10.00 completes
    reward = complete(store, first, paid_fen=1_000)

    # then the owner holds one ¥5 entitlement (told once orders has made its coupon)
    assert reward is not None
    reward.refresh_from_db()
    assert (reward.store_id, reward.owner_id, reward.member_id) == (store.pk, store.owner_id, first.pk)
    assert (reward.amount_fen, reward.order_paid_fen, reward.status) == (500, 1_000, "granted")
    assert (reward.granted_on.isoformat(), reward.daily_slot) == ("2026-12-01", 1)
    assert Notification.objects.filter(kind="share_reward_granted").exists() is False


def test_an_order_under_ten_yuan_earns_nothing_but_a_later_one_of_ten_does():
    store, (first,) = joined_store()

    small = complete(store, first, paid_fen=999)
    enough = complete(store, first, paid_fen=1_000)

    assert small is None
    assert enough is not None
    assert ShareReward.objects.count() == 1


def test_only_the_first_member_through_the_link_qualifies():
    store, (first, second) = joined_store(buyers=2)

    assert complete(store, second, paid_fen=5_000) is None
    assert ShareReward.objects.exists() is False


def test_a_member_who_came_in_through_a_chat_group_bind_does_not_qualify():
    # given a store whose only member joined without its link (a group bind, via=None)
    store, _, _ = make_store()
    member = UserFactory()
    membership_get_or_create(store=store, user=member, via=None, now=NOON - timedelta(days=1))

    assert complete(store, member) is None


def test_never_for_the_owners_own_purchase():
    store, _ = joined_store(buyers=0)

    assert complete(store, store.owner, paid_fen=10_000) is None
    assert ShareReward.objects.exists() is False


def test_once_per_store_however_often_it_is_asked():
    store, (first,) = joined_store()
    reward = complete(store, first)

    again = complete(store, first, paid_fen=3_000)
    same_order = share_reward_consider(
        store_id=store.pk, buyer_id=first.pk, order_id=reward.order_id, paid_fen=1_000, now=NOON
    )

    assert (again, same_order) == (None, None)
    assert ShareReward.objects.count() == 1


def test_at_most_three_a_day_per_owner_and_more_the_next_day():
    # given one owner with five stores, each with a first member
    owner = UserFactory()
    stores = [joined_store(owner=owner) for _ in range(5)]

    # when all five first orders complete on one day, and the fifth's second order a day later
    same_day = [
        complete(store, buyer, now=NOON + timedelta(minutes=i)) for i, (store, (buyer,)) in enumerate(stores)
    ]
    store5, (buyer5,) = stores[4]
    next_day = complete(store5, buyer5, now=NOON + timedelta(days=1))

    # then three rewards that day (slots 1..3), and the next day's order earns the fourth
    assert [r is not None for r in same_day] == [True, True, True, False, False]
    assert next_day is not None
    assert sorted(ShareReward.objects.values_list("granted_on", "daily_slot")) == [
        (NOON.date(), 1),
        (NOON.date(), 2),
        (NOON.date(), 3),
        (NOON.date() + timedelta(days=1), 1),
    ]


def test_the_day_is_chinas_day_not_utcs():
    # 23:30 and 00:30 Shanghai time are one UTC day but two local days
    owner = UserFactory()
    stores = [joined_store(owner=owner) for _ in range(4)]
    late = datetime(2026, 12, 1, 23, 30, tzinfo=SHANGHAI)

    results = [complete(store, buyer, now=late) for store, (buyer,) in stores[:3]]
    after_midnight = complete(stores[3][0], stores[3][1][0], now=late + timedelta(hours=1))

    assert all(results)
    assert after_midnight is not None
    assert after_midnight.granted_on.isoformat() == "2026-12-02"


def test_one_throwaway_account_earns_one_reward_ever_however_many_stores_it_joins_first():
    # given a buyer who is the first link member of three stores (of three owners)
    buyer = UserFactory()
    stores = []
    for _ in range(3):
        store, token, _ = make_store()
        store_join(user=buyer, share_token=token, now=NOON - timedelta(days=1))
        stores.append(store)

    results = [complete(store, buyer) for store in stores]

    assert [r is not None for r in results] == [True, False, False]


def test_a_refund_that_takes_the_members_net_spend_under_ten_yuan_earns_nothing():
    # given a ¥20 order, ¥12 of it refunded before completion (orders passes the net 800)
    store, (first,) = joined_store()
    store_stats_record_payment(store_id=store.pk, buyer_id=first.pk, paid_fen=2_000, discount_fen=0)
    store_stats_record_refund(store_id=store.pk, buyer_id=first.pk, refunded_fen=1_200)

    reward = share_reward_consider(store_id=store.pk, buyer_id=first.pk, order_id=1, paid_fen=800, now=NOON)

    assert reward is None


def test_a_member_without_paid_spend_in_the_store_earns_nothing_even_if_told_otherwise():
    # orders always pushes the payment first; a call without it (a bug, a replay) grants nothing
    store, (first,) = joined_store()

    reward = share_reward_consider(store_id=store.pk, buyer_id=first.pk, order_id=2, paid_fen=5_000, now=NOON)

    assert reward is None


def test_a_frozen_store_or_a_frozen_buyer_earns_nothing():
    store, (first,) = joined_store()
    other, (frozen_buyer,) = joined_store()
    store_freeze(store_id=store.pk)
    frozen_buyer.is_frozen = True
    frozen_buyer.save(update_fields=["is_frozen"])

    assert complete(store, first) is None
    assert complete(other, frozen_buyer) is None


def test_the_amounts_are_configurable(settings):
    settings.SHOP_RULES = {
        **settings.SHOP_RULES,
        "SHARE_REWARD_FEN": 800,
        "SHARE_REWARD_MIN_ORDER_FEN": 3_000,
    }
    store, (first,) = joined_store()

    assert complete(store, first, paid_fen=2_999) is None
    reward = complete(store, first, paid_fen=3_000)

    assert reward.amount_fen == 800


def test_issuing_the_coupon_marks_the_reward_once():
    store, (first,) = joined_store()
    reward = complete(store, first)

    assert share_reward_mark_issued(reward_id=reward.pk) is True
    assert share_reward_mark_issued(reward_id=reward.pk) is False
    reward.refresh_from_db()
    assert reward.status == ShareReward.Status.ISSUED


def test_no_reward_when_nobody_joined_through_the_link():
    store, _, _ = make_store()

    assert (
        share_reward_consider(
            store_id=store.pk, buyer_id=UserFactory().pk, order_id=3, paid_fen=5_000, now=timezone.now()
        )
        is None
    )

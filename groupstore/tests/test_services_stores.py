"""Joining, freezing, and the aggregates orders and refunds push (docs/design.md "Group store")."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.errors import ShareLinkNotFound, ShareLinkRevoked, StoreFrozen
from groupstore.models import Membership, ShareLink, Store, StoreStats
from groupstore.selectors import store_dashboard, store_flash_unlocked, store_stats
from groupstore.services import (
    share_link_create,
    store_create,
    store_freeze,
    store_join,
    store_stats_record_payment,
    store_stats_record_refund,
    store_unfreeze,
)
from groupstore.tests.factories import make_store
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_share_tokens_are_unguessable_and_distinct_per_link():
    store, token, _ = make_store()

    other = share_link_create(store=store, created_by=store.owner)

    # 24 random bytes, base64url: 192 bits (≥ 128 asked)
    assert len(token) == 32
    assert other.token != token


def test_joining_twice_is_one_membership_and_counts_once():
    store, token, _ = make_store()
    user = UserFactory()

    first = store_join(user=user, share_token=token)
    second = store_join(user=user, share_token=token)

    assert first.pk == second.pk
    assert store_stats(store_id=store.pk).members_count == 2


def test_an_unknown_token_is_not_found_and_a_withdrawn_one_gone():
    store, token, _ = make_store()
    ShareLink.objects.filter(token=token).update(is_revoked=True)

    with pytest.raises(ShareLinkNotFound):
        store_join(user=UserFactory(), share_token="no-such-token")
    with pytest.raises(ShareLinkRevoked):
        store_join(user=UserFactory(), share_token=token)
    assert Membership.objects.filter(store=store).count() == 1


def test_a_frozen_store_takes_no_members_no_links_and_no_chat_group():
    # given a frozen, unbound store
    store, token, _ = make_store()
    store_freeze(store_id=store.pk, reason="spam")
    user = UserFactory()

    # when someone opens its card from inside a chat group, or asks for a new link
    with pytest.raises(StoreFrozen):
        store_join(user=user, share_token=token, wechat_group_id="gid-frozen")
    with pytest.raises(StoreFrozen):
        share_link_create(store=store, created_by=store.owner)

    # then nothing changed
    store.refresh_from_db()
    assert store.wechat_group_id is None
    assert not Membership.objects.filter(user=user).exists()
    assert ShareLink.objects.filter(store=store).count() == 1


def test_creating_a_store_for_a_chat_group_whose_store_is_frozen_is_refused():
    store, _, _ = make_store(wechat_group_id="gid-1")
    store_freeze(store_id=store.pk)
    latecomer = UserFactory()

    with pytest.raises(StoreFrozen):
        store_create(owner=latecomer, name="又一个", wechat_group_id="gid-1")

    assert Store.objects.filter(wechat_group_id="gid-1").get().pk == store.pk
    assert not Membership.objects.filter(user=latecomer).exists()


def test_freezing_records_why_tells_the_owner_and_twice_is_a_no_op():
    store, _, _ = make_store()

    store_freeze(store_id=store.pk, reason="刷屏广告")
    store_freeze(store_id=store.pk, reason="again")

    store.refresh_from_db()
    assert (store.is_frozen, store.frozen_reason) == (True, "刷屏广告")
    assert Notification.objects.filter(recipient=store.owner, kind="store_frozen").count() == 1


def test_unfreezing_reopens_joins():
    store, token, _ = make_store()
    store_freeze(store_id=store.pk, reason="check")

    store_unfreeze(store_id=store.pk)
    membership = store_join(user=UserFactory(), share_token=token)

    store.refresh_from_db()
    assert (store.is_frozen, store.frozen_at, store.frozen_reason) == (False, None, "")
    assert membership.store_id == store.pk


def test_a_payment_then_a_refund_move_the_store_and_member_figures_exactly(settings):
    # given a member who paid 12,000 fen (list 13,000) through a store, threshold 10,000
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 10_000}
    store, _, (member,) = make_store(members=1)
    store_stats_record_payment(store_id=store.pk, buyer_id=member.pk, paid_fen=12_000, discount_fen=1_000)
    assert store_flash_unlocked(stats=store_stats(store_id=store.pk)) is True

    # when 2,500 fen of it is refunded (with 200 fen of its discount)
    store_stats_record_refund(store_id=store.pk, buyer_id=member.pk, refunded_fen=2_500, discount_fen=200)

    # then net paid falls below the threshold (flash prices lost); GMV stays as placed
    stats = store_stats(store_id=store.pk)
    assert (stats.gmv_fen, stats.net_paid_fen, stats.orders_count) == (12_000, 9_500, 1)
    assert store_flash_unlocked(stats=stats) is False
    assert store_dashboard(store=store).flash_unlocked is False
    membership = Membership.objects.get(store=store, user=member)
    assert (membership.paid_fen, membership.discount_fen, membership.saved_fen) == (9_500, 800, 800)


def test_the_flash_threshold_is_reached_exactly_at_the_configured_amount(settings):
    settings.SHOP_RULES = {**settings.SHOP_RULES, "FLASH_UNLOCK_THRESHOLD_FEN": 5_000}
    store, _, (member,) = make_store(members=1)

    store_stats_record_payment(store_id=store.pk, buyer_id=member.pk, paid_fen=4_999, discount_fen=0)
    below = store_flash_unlocked(stats=store_stats(store_id=store.pk))
    store_stats_record_payment(store_id=store.pk, buyer_id=member.pk, paid_fen=1, discount_fen=0)

    assert below is False
    assert store_flash_unlocked(stats=store_stats(store_id=store.pk)) is True


def test_a_negative_refund_is_refused():
    store, _, (member,) = make_store(members=1)

    with pytest.raises(ValueError, match="positive"):
        store_stats_record_refund(store_id=store.pk, buyer_id=member.pk, refunded_fen=-1)

    assert StoreStats.objects.get(store=store).net_paid_fen == 0


def test_stores_of_a_certified_leader_are_venues_from_creation():
    from groupstore.tests.factories import make_leader

    leader = make_leader()

    created = store_create(owner=leader.user, name="鹅享团", now=timezone.now())

    assert created.store.is_venue is True

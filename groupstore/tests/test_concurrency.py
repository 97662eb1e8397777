"""Share-link ownership under real concurrency on PostgreSQL (docs/design.md "Group store —
share-link ownership"): a chat group has at most one store, concurrent first binds yield
exactly one store and no error for the losers, and a user is a member of a store once."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from groupstore.models import Membership, ShareLink, Store, StoreStats
from groupstore.services import StoreCreated, store_create, store_join
from groupstore.tests.factories import make_store
from shop.testing.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

GROUP = "sandbox-opengid-tGzv3pOhSw"
RACERS = 20


def test_twenty_first_binds_of_one_chat_group_yield_one_store_everyone_joins():
    # given 20 owners of 20 unbound stores, all in one chat group
    stores = [make_store(name=f"群{i}")[:2] for i in range(RACERS)]

    # when each opens their own store's card from inside the group at the same moment
    memberships = run_concurrently(
        lambda i: store_join(user=stores[i][0].owner, share_token=stores[i][1], wechat_group_id=GROUP),
        times=RACERS,
    )

    # then nobody got an error, and the group has exactly one store ...
    assert all(isinstance(m, Membership) for m in memberships), memberships
    group_store = Store.objects.get(wechat_group_id=GROUP)
    # ... which everyone has joined (its owner as owner, the 19 others as members)
    assert {m.store_id for m in memberships} == {group_store.pk}
    members = Membership.objects.filter(store=group_store)
    assert sorted(members.values_list("user_id", flat=True)) == sorted(s.owner_id for s, _ in stores)
    assert members.get(role=Membership.Role.OWNER).user_id == group_store.owner_id
    assert StoreStats.objects.get(store=group_store).members_count == RACERS
    # and no store changed owner; the 19 others keep their only member and no group
    assert dict(Store.objects.values_list("pk", "owner_id")) == {s.pk: s.owner_id for s, _ in stores}
    others = Store.objects.exclude(pk=group_store.pk)
    assert not others.filter(wechat_group_id__isnull=False).exists()
    assert set(StoreStats.objects.filter(store__in=others).values_list("members_count", flat=True)) == {1}


def test_twenty_stores_created_at_once_for_one_chat_group_yield_one():
    # given 20 shoppers with a share ticket of the same chat group
    users = UserFactory.create_batch(RACERS)

    # when each creates a store for the group at the same moment
    results = run_concurrently(
        lambda i: store_create(owner=users[i], name=f"团{i}", wechat_group_id=GROUP), times=RACERS
    )

    # then one store was created and the 19 others got it back, as members
    assert all(isinstance(r, StoreCreated) for r in results), results
    assert sum(r.created for r in results) == 1
    winner = next(r for r in results if r.created)
    store = Store.objects.get()
    assert store.wechat_group_id == GROUP
    assert store.owner_id == users[results.index(winner)].pk
    assert {r.store.pk for r in results} == {store.pk}
    assert {r.share_token for r in results} == {ShareLink.objects.get(store=store).token}
    assert Membership.objects.filter(store=store).count() == RACERS
    assert Membership.objects.filter(store=store, role=Membership.Role.OWNER).get().user_id == store.owner_id
    assert StoreStats.objects.get(store=store).members_count == RACERS


def test_one_user_joining_a_store_twenty_times_at_once_is_one_member():
    # given a store and its share link
    store, token, _ = make_store()
    user = UserFactory()

    # when the user opens the link twenty times at once (taps, retries, two devices)
    memberships = run_concurrently(lambda i: store_join(user=user, share_token=token), times=RACERS)

    # then there is one membership, and the store counts its owner and this one member
    assert all(isinstance(m, Membership) for m in memberships), memberships
    membership = Membership.objects.get(store=store, user=user)
    assert {m.pk for m in memberships} == {membership.pk}
    assert membership.role == Membership.Role.MEMBER
    assert membership.joined_via.token == token
    assert Membership.objects.filter(store=store).count() == 2
    assert StoreStats.objects.get(store=store).members_count == 2

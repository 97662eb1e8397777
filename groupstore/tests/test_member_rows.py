"""The owner's members page and figures read by statements the ORM compiled once and
PostgreSQL prepared (groupstore/selectors.py, shop.db.compiled_query): the same rows, in the
same order, with the same keys as the ORM's own query, page by page."""

from __future__ import annotations

import random

import pytest

from accounts.tests.factories import UserFactory
from groupstore.errors import NotStoreOwner, StoreNotFound
from groupstore.models import Membership
from groupstore.selectors import (
    MEMBER_ORDERINGS,
    member_list_for_owner,
    member_rows_for_owner,
    store_dashboard_for_owner,
    store_members_count_for_owner,
)

from .factories import make_store

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("ordering", [*MEMBER_ORDERINGS, "not-an-ordering"])
def test_every_page_is_the_orm_s_page(ordering):
    store, _, members = make_store(members=23)
    owner = store.owner
    make_store(members=3)  # another store's members never show
    rng = random.Random(7)
    for membership in Membership.objects.filter(store=store):
        membership.saved_fen = rng.choice([0, 100, 250])  # ties: the id breaks them
        membership.paid_fen = rng.randrange(0, 10_000)
        membership.save(update_fields=["saved_fen", "paid_fen"])
    orm = list(member_list_for_owner(store_id=store.pk, ordering=ordering))
    rows = member_rows_for_owner(store_id=store.pk, ordering=ordering)

    pages = [rows[start : start + 10] for start in (0, 10, 20, 30)]

    assert [row for page in pages for row in page] == orm
    assert len(orm) == 24  # the owner and 23 members
    assert store_members_count_for_owner(store_id=store.pk, user=owner) == 24


def test_only_the_owner_reads_the_figures():
    store, _, (member,) = make_store(members=1)
    owner = store.owner

    assert store_dashboard_for_owner(store_id=store.pk, user=owner).members_count == 2
    with pytest.raises(NotStoreOwner):
        store_members_count_for_owner(store_id=store.pk, user=member)
    with pytest.raises(StoreNotFound):
        store_members_count_for_owner(store_id=store.pk, user=UserFactory())
    with pytest.raises(StoreNotFound):
        store_members_count_for_owner(store_id=store.pk + 1000, user=owner)

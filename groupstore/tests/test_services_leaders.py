"""Invitation codes, leaders, sale venues (docs/design.md, Goose Share Group)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from groupstore.errors import (
    InvitationCodeExpired,
    InvitationCodeInvalid,
    InvitationCodeUsedUp,
    LeaderNotReviewable,
    NotALeader,
    NotStoreOwner,
    StoreFrozen,
    StoreNotFound,
)
from groupstore.models import InvitationCode, Leader, Store, VenueSelection
from groupstore.selectors import user_is_leader, venue_selection_product_ids
from groupstore.services import (
    invitation_codes_generate,
    leader_certify,
    leader_register,
    leader_reject,
    store_freeze,
    venue_order_notify,
    venue_selection_set,
)
from groupstore.services.leaders import CODE_ALPHABET, CODE_LENGTH
from groupstore.tests.factories import make_invitation_code, make_leader, make_store
from products.models import Product
from products.tests.factories import ProductFactory
from shop.errors import ValidationFailed
from shop.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_a_batch_of_codes_is_random_distinct_and_carries_its_terms():
    expires = timezone.now() + timedelta(days=7)
    admin = UserFactory(is_staff=True)

    codes = invitation_codes_generate(
        count=50, max_uses=3, expires_at=expires, batch="上海见面会", created_by=admin
    )

    assert len({c.code for c in codes}) == 50
    assert all(len(c.code) == CODE_LENGTH and set(c.code) <= set(CODE_ALPHABET) for c in codes)
    stored = InvitationCode.objects.filter(batch="上海见面会")
    assert stored.count() == 50
    assert set(stored.values_list("max_uses", "used_count", "expires_at", "created_by")) == {
        (3, 0, expires, admin.pk)
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"count": 0}, "count"), ({"count": 1001}, "count"), ({"count": 1, "max_uses": 0}, "max_uses")],
)
def test_a_bad_batch_is_refused_and_makes_nothing(kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        invitation_codes_generate(**kwargs)

    assert field in refused.value.fields
    assert InvitationCode.objects.exists() is False


def test_registering_uses_one_use_of_the_code_and_awaits_certification():
    code = make_invitation_code(max_uses=2)
    user = UserFactory()

    leader, created = leader_register(user=user, invitation_code=code.code.lower())

    code.refresh_from_db()
    assert created is True
    assert (leader.status, leader.invitation_code_id, code.used_count) == ("applied", code.pk, 1)
    assert user_is_leader(user) is False


def test_registering_again_changes_nothing_and_uses_no_code():
    code = make_invitation_code(max_uses=5)
    user = UserFactory()
    first, _ = leader_register(user=user, invitation_code=code.code)

    again, created = leader_register(user=user, invitation_code=code.code)

    code.refresh_from_db()
    assert (again.pk, created, code.used_count) == (first.pk, False, 1)


def test_an_unknown_code_an_expired_one_and_a_used_up_one_are_refused_and_use_nothing():
    expired = make_invitation_code()
    InvitationCode.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    used_up = make_invitation_code(max_uses=1)
    leader_register(user=UserFactory(), invitation_code=used_up.code)

    with pytest.raises(InvitationCodeInvalid):
        leader_register(user=UserFactory(), invitation_code="NOSUCHCODE")
    with pytest.raises(InvitationCodeExpired):
        leader_register(user=UserFactory(), invitation_code=expired.code)
    with pytest.raises(InvitationCodeUsedUp):
        leader_register(user=UserFactory(), invitation_code=used_up.code)

    assert Leader.objects.count() == 1
    assert InvitationCode.objects.get(pk=expired.pk).used_count == 0
    assert InvitationCode.objects.get(pk=used_up.pk).used_count == 1


def test_certifying_makes_the_leaders_stores_venues_and_tells_them():
    leader = make_leader(certified=False)
    store, _, _ = make_store(owner=leader.user)
    someone_elses, _, _ = make_store()

    leader_certify(leader_id=leader.pk)
    leader_certify(leader_id=leader.pk)  # the double click

    leader.refresh_from_db()
    assert leader.status == "certified"
    assert leader.certified_at is not None
    assert Store.objects.get(pk=store.pk).is_venue is True
    assert Store.objects.get(pk=someone_elses.pk).is_venue is False
    assert Notification.objects.filter(recipient=leader.user, kind="leader_certified").count() == 1
    assert user_is_leader(leader.user) is True


def test_withdrawing_a_certification_ends_the_venues_and_a_rejected_shopper_may_apply_again():
    leader = make_leader()
    store, _, _ = make_store(owner=leader.user)

    leader_reject(leader_id=leader.pk, reason="违规拉群")
    store.refresh_from_db()
    reapplied, created = leader_register(user=leader.user, invitation_code=make_invitation_code().code)

    assert store.is_venue is False
    assert (created, reapplied.pk, reapplied.status, reapplied.rejection_reason) == (
        True,
        leader.pk,
        "applied",
        "",
    )


def test_a_rejected_application_cannot_be_certified_without_applying_again():
    leader = make_leader(certified=False)
    leader_reject(leader_id=leader.pk, reason="no")

    with pytest.raises(LeaderNotReviewable):
        leader_certify(leader_id=leader.pk)


# --- Sale venue selection ----------------------------------------------------------


@pytest.fixture
def venue():
    leader = make_leader()
    store, _, (member,) = make_store(owner=leader.user, members=1)
    store.refresh_from_db()
    return store, leader.user, member


def test_the_leader_curates_on_sale_products_in_order_and_replaces_them_whole(venue):
    store, leader_user, _ = venue
    a, b, c = ProductFactory.create_batch(3)

    venue_selection_set(store_id=store.pk, user=leader_user, product_ids=[b.pk, a.pk])
    stored = venue_selection_set(store_id=store.pk, user=leader_user, product_ids=[c.pk, b.pk])

    assert stored == [c.pk, b.pk]
    assert venue_selection_product_ids(store_id=store.pk) == [c.pk, b.pk]


def test_products_not_on_sale_or_listed_twice_are_refused_by_position_and_nothing_changes(venue):
    store, leader_user, _ = venue
    good = ProductFactory()
    draft = ProductFactory(status=Product.Status.DRAFT)
    venue_selection_set(store_id=store.pk, user=leader_user, product_ids=[good.pk])

    with pytest.raises(ValidationFailed) as refused:
        venue_selection_set(
            store_id=store.pk, user=leader_user, product_ids=[good.pk, draft.pk, good.pk, 999_999]
        )

    assert refused.value.fields == {
        "product_ids.1": [f"Product {draft.pk} is not on sale."],
        "product_ids.2": ["Listed twice."],
        "product_ids.3": ["Product 999999 is not on sale."],
    }
    assert venue_selection_product_ids(store_id=store.pk) == [good.pk]


def test_only_the_owning_certified_leader_may_curate(venue):
    store, _, member = venue
    product = ProductFactory()
    plain_owner_store, _, _ = make_store()

    with pytest.raises(NotStoreOwner):
        venue_selection_set(store_id=store.pk, user=member, product_ids=[product.pk])
    with pytest.raises(StoreNotFound):
        venue_selection_set(store_id=store.pk, user=UserFactory(), product_ids=[product.pk])
    with pytest.raises(NotALeader):
        venue_selection_set(
            store_id=plain_owner_store.pk, user=plain_owner_store.owner, product_ids=[product.pk]
        )
    assert VenueSelection.objects.exists() is False


def test_a_frozen_venue_cannot_be_curated(venue):
    store, leader_user, _ = venue
    store_freeze(store_id=store.pk)

    with pytest.raises(StoreFrozen):
        venue_selection_set(store_id=store.pk, user=leader_user, product_ids=[ProductFactory().pk])


class _Item:
    def __init__(self, title, qty, paid_fen):
        self.product_title, self.spec, self.qty, self.paid_fen = title, {"规格": "10包"}, qty, paid_fen


class _Items:
    def __init__(self, items):
        self._items = items

    def order_by(self, *fields):
        return self._items


class _Order:
    """Shaped like orders' Order, which groupstore (below orders) never imports."""

    def __init__(self, *, pk, store, buyer):
        self.pk, self.store_id, self.buyer_id = pk, store.pk, buyer.pk
        self.paid_fen, self.paid_at = 3_980, timezone.now()
        self.address = {"name": "张三", "phone": "13800138000", "region": "上海", "detail": "世纪大道100号"}
        self.items = _Items([_Item("维达抽纸", 2, 3_980)])


def test_the_leader_is_told_of_a_venue_order_once_without_the_members_phone_or_address(venue):
    store, leader_user, member = venue
    order = _Order(pk=4242, store=store, buyer=member)

    venue_order_notify(order=order)
    venue_order_notify(order=order)  # a replayed payment callback

    notice = Notification.objects.get(recipient=leader_user, kind="venue_order_paid")
    assert notice.data["order_id"] == 4242
    assert notice.data["buyer_nickname"] == member.nickname
    assert notice.data["items"] == [
        {"product_title": "维达抽纸", "spec": {"规格": "10包"}, "qty": 2, "paid_fen": 3_980}
    ]
    text = f"{notice.title} {notice.body} {notice.data}"
    assert member.phone not in text
    assert "13800138000" not in text
    assert "世纪大道" not in text
    assert "address" not in notice.data


def test_no_venue_notice_for_an_ordinary_store():
    store, _, (member,) = make_store(members=1)

    assert venue_order_notify(order=_Order(pk=1, store=store, buyer=member)) is None
    assert Notification.objects.filter(kind="venue_order_paid").exists() is False

"""``GET /me``: who I am, with what the other apps know of me, in one query after the token's."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from groupstore.models import Leader
from groupstore.tests.factories import make_leader
from merchants.tests.factories import MerchantStaffFactory

pytestmark = pytest.mark.django_db


def test_a_shopper_is_neither_staff_nor_a_leader(make_client):
    user = UserFactory()
    body = make_client(user).get("/api/v1/me").json()
    assert body == {"id": user.pk, "nickname": user.nickname, "merchant_id": None, "is_leader": False}


def test_a_merchants_staff_member_who_is_a_certified_leader(make_client):
    staff = MerchantStaffFactory()
    make_leader(user=staff.user)
    body = make_client(staff.user).get("/api/v1/me").json()
    assert (body["merchant_id"], body["is_leader"]) == (staff.merchant_id, True)

    Leader.objects.filter(user=staff.user).update(status=Leader.Status.REJECTED)
    assert make_client(staff.user).get("/api/v1/me").json()["is_leader"] is False


def test_me_reads_every_contributed_field_in_one_query(make_client, django_assert_num_queries):
    client = make_client(MerchantStaffFactory().user)
    with django_assert_num_queries(2):  # the token with its user, then the fields
        assert client.get("/api/v1/me").status_code == 200

"""Staff by consent (issue 19, item 4): owners invite, people accept, owners remove, anyone
leaves but the last owner; nobody is enrolled by someone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from merchants.models import Merchant, MerchantStaff, MerchantStaffInvitation
from merchants.tests.factories import MerchantFactory, MerchantStaffFactory
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

INVITE = "/api/v1/merchant/staff/invitations"
ACCEPT = "/api/v1/staff-invitations/accept"
STAFF = "/api/v1/merchant/staff"
LEAVE = "/api/v1/merchant/staff/me"


def _invite(client, role: str = "operator") -> str:
    response = client.post(INVITE, {"role": role}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["code"]


def test_the_old_direct_enrolment_is_gone(make_client):
    owner = MerchantStaffFactory()
    stranger = UserFactory()

    response = make_client(owner.user).post(STAFF, {"user_id": stranger.pk}, format="json")

    assert response.status_code == 405
    assert not MerchantStaff.objects.filter(user=stranger).exists()


def test_an_owner_invites_and_the_person_accepts_in_the_role(make_client):
    owner = MerchantStaffFactory()
    newcomer = UserFactory()

    made = make_client(owner.user).post(INVITE, {"role": "finance"}, format="json")
    accepted = make_client(newcomer).post(ACCEPT, {"code": made.json()["code"]}, format="json")

    assert made.status_code == 201
    body = made.json()
    assert body["role"] == "finance"
    expires_at = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=71, minutes=59) < expires_at - timezone.now() <= timedelta(hours=72)
    assert accepted.status_code == 200
    assert accepted.json() == {"merchant_id": owner.merchant_id, "role": "finance"}
    staff = MerchantStaff.objects.get(user=newcomer)
    assert (staff.merchant_id, staff.role) == (owner.merchant_id, "finance")
    assert make_client(newcomer).get("/api/v1/merchant/products").status_code == 200
    # only the code's hash is kept
    assert not MerchantStaffInvitation.objects.filter(code_hash=body["code"]).exists()


@pytest.mark.parametrize("role", ["operator", "finance"])
def test_only_owners_invite(make_client, role):
    owner = MerchantStaffFactory()
    member = MerchantStaffFactory(merchant=owner.merchant, role=role)

    response = make_client(member.user).post(INVITE, {"role": "owner"}, format="json")

    assert_error(response, 403, "not_merchant_owner")
    assert MerchantStaffInvitation.objects.count() == 0


def test_a_non_merchant_cannot_invite(make_client):
    assert_error(make_client(UserFactory()).post(INVITE, {"role": "owner"}, format="json"), 403)


@pytest.mark.parametrize("role", ["staff", "admin", "", None, 1, ["owner"]])
def test_an_unknown_role_is_a_400(make_client, role):
    owner = MerchantStaffFactory()

    assert_error(make_client(owner.user).post(INVITE, {"role": role}, format="json"), 400)


def test_an_invitation_is_single_use(make_client):
    owner = MerchantStaffFactory()
    code = _invite(make_client(owner.user))
    first, second = UserFactory(), UserFactory()

    assert make_client(first).post(ACCEPT, {"code": code}, format="json").status_code == 200
    again = make_client(first).post(ACCEPT, {"code": code}, format="json")  # a retry: same answer
    other = make_client(second).post(ACCEPT, {"code": code}, format="json")

    assert again.status_code == 200
    assert_error(other, 409, "invitation_used")
    assert not MerchantStaff.objects.filter(user=second).exists()


def test_an_expired_invitation_is_refused(make_client):
    owner = MerchantStaffFactory()
    code = _invite(make_client(owner.user))
    MerchantStaffInvitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    newcomer = UserFactory()

    assert_error(make_client(newcomer).post(ACCEPT, {"code": code}, format="json"), 410, "invitation_expired")
    assert not MerchantStaff.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize("code", ["nope", "x" * 64])
def test_an_unknown_code_is_a_404(make_client, code):
    assert_error(
        make_client(UserFactory()).post(ACCEPT, {"code": code}, format="json"), 404, "invitation_not_found"
    )


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "x" * 65}, {"code": None}, {"code": ["x"]}])
def test_a_malformed_accept_is_a_400(make_client, body):
    assert_error(make_client(UserFactory()).post(ACCEPT, body, format="json"), 400)


def test_accepting_needs_a_login(make_client):
    owner = MerchantStaffFactory()
    code = _invite(make_client(owner.user))

    assert make_client().post(ACCEPT, {"code": code}, format="json").status_code == 401


def test_staff_of_another_merchant_cannot_accept_and_the_invitation_stays_usable(make_client):
    owner = MerchantStaffFactory()
    code = _invite(make_client(owner.user))
    elsewhere = MerchantStaffFactory(role="operator")

    refused = make_client(elsewhere.user).post(ACCEPT, {"code": code}, format="json")

    assert_error(refused, 409, "staff_of_another_merchant")
    assert MerchantStaff.objects.get(user=elsewhere.user).merchant_id == elsewhere.merchant_id
    assert make_client(UserFactory()).post(ACCEPT, {"code": code}, format="json").status_code == 200


def test_staff_of_this_merchant_accepting_is_a_409(make_client):
    owner = MerchantStaffFactory()
    code = _invite(make_client(owner.user))

    assert_error(make_client(owner.user).post(ACCEPT, {"code": code}, format="json"), 409, "already_staff")
    assert MerchantStaff.objects.get(user=owner.user).role == "owner"


def test_a_closed_merchant_takes_no_staff(make_client):
    owner = MerchantStaffFactory()
    code = _invite(make_client(owner.user))
    Merchant.objects.filter(pk=owner.merchant_id).update(status=Merchant.Status.CLOSED)

    assert_error(make_client(UserFactory()).post(ACCEPT, {"code": code}, format="json"), 409)


def test_staff_list_is_paginated(make_client):
    owner = MerchantStaffFactory()
    for _ in range(3):
        MerchantStaffFactory(merchant=owner.merchant, role="operator")

    body = make_client(owner.user).get(STAFF, {"page_size": 2}).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["results"][0] == {
        "id": owner.pk,
        "user_id": owner.user_id,
        "nickname": owner.user.nickname,
        "role": "owner",
        "created_at": body["results"][0]["created_at"],
    }


def test_an_owner_removes_staff_with_the_confirmation(make_client):
    owner = MerchantStaffFactory()
    member = MerchantStaffFactory(merchant=owner.merchant, role="operator")
    client = make_client(owner.user)
    member_client = make_client(member.user)

    unconfirmed = client.delete(f"{STAFF}/{member.pk}")
    wrong = client.delete(f"{STAFF}/{member.pk}", {"confirm": "leave"}, format="json")
    assert MerchantStaff.objects.filter(pk=member.pk).exists()
    removed = client.delete(f"{STAFF}/{member.pk}", {"confirm": "remove"}, format="json")

    assert_error(unconfirmed, 400, "confirmation_required")
    assert_error(wrong, 400, "confirmation_required")
    assert removed.status_code == 204
    assert not MerchantStaff.objects.filter(pk=member.pk).exists()
    # their console is closed at once
    assert_error(member_client.get("/api/v1/merchant/products"), 403, "not_merchant_staff")


def test_removal_rules(make_client):
    owner = MerchantStaffFactory()
    operator = MerchantStaffFactory(merchant=owner.merchant, role="operator")
    other = MerchantStaffFactory(role="operator")
    confirm = {"confirm": "remove"}

    # someone else's staff: 404 before the body is looked at
    assert_error(make_client(owner.user).delete(f"{STAFF}/{other.pk}"), 404, "staff_not_found")
    assert_error(make_client(owner.user).delete(f"{STAFF}/{owner.pk}", confirm, format="json"), 403)
    assert_error(
        make_client(operator.user).delete(f"{STAFF}/{owner.pk}", confirm, format="json"),
        403,
        "not_merchant_owner",
    )
    assert MerchantStaff.objects.count() == 3


def test_staff_leave_with_the_confirmation(make_client):
    owner = MerchantStaffFactory()
    member = MerchantStaffFactory(merchant=owner.merchant, role="finance")
    client = make_client(member.user)

    assert_error(client.delete(LEAVE), 400, "confirmation_required")
    assert_error(client.delete(LEAVE, b"{", content_type="application/json"), 400)
    assert client.delete(LEAVE, {"confirm": "leave"}, format="json").status_code == 204

    assert not MerchantStaff.objects.filter(user=member.user).exists()
    assert_error(client.delete(LEAVE, {"confirm": "leave"}, format="json"), 403, "not_merchant_staff")


def test_the_last_owner_cannot_leave_but_one_of_two_can(make_client):
    owner = MerchantStaffFactory()
    client = make_client(owner.user)

    assert_error(client.delete(LEAVE, {"confirm": "leave"}, format="json"), 409, "last_owner")

    second = MerchantStaffFactory(merchant=owner.merchant, role="owner")
    assert client.delete(LEAVE, {"confirm": "leave"}, format="json").status_code == 204
    assert_error(
        make_client(second.user).delete(LEAVE, {"confirm": "leave"}, format="json"), 409, "last_owner"
    )


def test_the_last_owner_of_a_closed_merchant_may_leave(make_client):
    owner = MerchantStaffFactory(merchant=MerchantFactory(status=Merchant.Status.CLOSED))

    response = make_client(owner.user).delete(LEAVE, {"confirm": "leave"}, format="json")

    assert response.status_code == 204


def test_ops_see_invitations_in_admin_and_cannot_edit_them(make_client, admin_client):
    client = admin_client
    owner = MerchantStaffFactory()
    _invite(make_client(owner.user))
    invitation = MerchantStaffInvitation.objects.get()

    listing = client.get("/admin/merchants/merchantstaffinvitation/")
    detail = client.get(f"/admin/merchants/merchantstaffinvitation/{invitation.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert client.get("/admin/merchants/merchantstaffinvitation/add/").status_code == 403

"""The staff page: list, invite (the code shown once), remove (owner only), leave."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from merchants.models import MerchantStaff, MerchantStaffInvitation
from merchants.services import staff_invitation_accept
from merchants.tests.factories import MerchantStaffFactory

from .helpers import console_login

pytestmark = pytest.mark.django_db

STAFF = "/console/staff/"


@pytest.fixture
def owner(client):
    staff = MerchantStaffFactory()
    console_login(client, staff.user)
    client.cookies["console_lang"] = "en"
    return staff


def test_the_list_shows_nicknames_and_roles_but_no_phone(client, owner):
    operator = MerchantStaffFactory(merchant=owner.merchant, role=MerchantStaff.Role.OPERATOR)
    MerchantStaffFactory()  # another merchant's
    body = client.get(STAFF).content.decode()
    assert operator.user.nickname in body
    assert owner.user.nickname in body
    assert operator.user.phone not in body
    assert body.count("<tr>") == 1 + 2  # header + this merchant's two


def test_an_owner_invites_and_the_code_works_once(client, owner):
    response = client.post("/console/staff/invite", {"role": "finance"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    code = re.search(r'<code class="code">([^<]+)</code>', response.content.decode()).group(1)
    newcomer = UserFactory()
    staff = staff_invitation_accept(user=newcomer, code=code)
    assert (staff.merchant_id, staff.role) == (owner.merchant_id, "finance")
    assert code not in client.get(STAFF).content.decode()  # shown once


def test_a_bad_role_shows_the_form_again_with_the_error(client, owner):
    response = client.post("/console/staff/invite", {"role": "boss"})
    assert response.status_code == 400
    assert "Choose a role" in response.content.decode()
    assert not MerchantStaffInvitation.objects.exists()


def test_an_operator_cannot_invite_or_remove(client):
    operator = MerchantStaffFactory(role=MerchantStaff.Role.OPERATOR)
    other = MerchantStaffFactory(merchant=operator.merchant, role=MerchantStaff.Role.FINANCE)
    console_login(client, operator.user)
    assert "staff/invite" not in client.get(STAFF).content.decode()
    assert client.post("/console/staff/invite", {"role": "owner"}).status_code == 403
    assert client.post(f"/console/staff/{other.pk}/remove").status_code == 403
    assert not MerchantStaffInvitation.objects.exists()
    assert MerchantStaff.objects.filter(pk=other.pk).exists()


def test_an_owner_removes_staff_and_their_session_ends(client, owner):
    operator = MerchantStaffFactory(merchant=owner.merchant, role=MerchantStaff.Role.OPERATOR)
    their_browser = Client()
    console_login(their_browser, operator.user)
    assert their_browser.get("/console/").status_code == 200
    response = client.post(f"/console/staff/{operator.pk}/remove")
    assert response.status_code == 302
    assert not MerchantStaff.objects.filter(pk=operator.pk).exists()
    assert their_browser.get("/console/").status_code == 302  # to sign-in


def test_another_merchants_staff_member_is_not_found(client, owner):
    stranger = MerchantStaffFactory()
    assert client.post(f"/console/staff/{stranger.pk}/remove").status_code == 404
    assert MerchantStaff.objects.filter(pk=stranger.pk).exists()


def test_an_owner_cannot_remove_themselves(client, owner):
    response = client.post(f"/console/staff/{owner.pk}/remove")
    assert response.status_code == 400
    assert MerchantStaff.objects.filter(pk=owner.pk).exists()


def test_the_last_owner_cannot_leave(client, owner):
    response = client.post("/console/staff/leave")
    assert response.status_code == 409
    assert "last owner" in response.content.decode()
    assert MerchantStaff.objects.filter(pk=owner.pk).exists()


def test_leaving_signs_out(client):
    operator = MerchantStaffFactory(role=MerchantStaff.Role.OPERATOR)
    console_login(client, operator.user)
    response = client.post("/console/staff/leave")
    assert response["Location"] == "/console/signin"
    assert not MerchantStaff.objects.filter(pk=operator.pk).exists()
    assert client.get("/console/").status_code == 302


def test_forms_need_the_csrf_token():
    staff = MerchantStaffFactory()
    client = Client(enforce_csrf_checks=True)
    console_login(client, staff.user)
    assert client.post("/console/staff/invite", {"role": "finance"}).status_code == 403
    assert not MerchantStaffInvitation.objects.exists()

"""Who may open a console page: staff of an approved merchant; everyone else is sent to sign in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from merchants.models import Merchant, MerchantStaff
from merchants.tests.factories import MerchantStaffFactory

from .helpers import console_login

pytestmark = pytest.mark.django_db

HOME = "/console/"


def _signin_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("console:signin"))


def test_staff_of_an_approved_merchant_sees_the_home_page(client):
    staff = MerchantStaffFactory()
    console_login(client, staff.user)
    response = client.get(HOME)
    assert response.status_code == 200
    assert staff.merchant.company_name in response.content.decode()


def test_anonymous_visitor_is_sent_to_sign_in_with_the_page_to_come_back_to(client):
    response = client.get(HOME)
    assert _signin_redirect(response)
    assert "next=%2Fconsole%2F" in response["Location"]


def test_a_user_who_is_not_staff_is_sent_to_sign_in(client):
    console_login(client, UserFactory())
    assert _signin_redirect(client.get(HOME))


def test_the_session_ends_when_the_user_is_frozen(client):
    staff = MerchantStaffFactory()
    console_login(client, staff.user)
    assert client.get(HOME).status_code == 200
    type(staff.user).objects.filter(pk=staff.user.pk).update(is_frozen=True)
    assert _signin_redirect(client.get(HOME))
    type(staff.user).objects.filter(pk=staff.user.pk).update(is_frozen=False)
    assert _signin_redirect(client.get(HOME)), "signed out, not just refused once"


def test_the_session_ends_when_the_user_leaves_the_staff(client):
    staff = MerchantStaffFactory()
    console_login(client, staff.user)
    MerchantStaff.objects.filter(pk=staff.pk).delete()
    assert _signin_redirect(client.get(HOME))


def test_staff_of_a_merchant_not_approved_is_sent_to_sign_in(client):
    staff = MerchantStaffFactory(merchant__status=Merchant.Status.PENDING)
    console_login(client, staff.user)
    assert _signin_redirect(client.get(HOME))


def test_an_htmx_request_is_told_to_load_the_sign_in_page(client):
    response = client.get(HOME, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("console:signin"))


def test_an_ops_user_following_a_link_here_keeps_their_admin_session(client):
    ops = UserFactory(is_staff=True, is_superuser=True)
    console_login(client, ops)

    assert _signin_redirect(client.get(HOME))
    assert client.get("/admin/").status_code == 200

"""Onboarding through the API and ops review: apply, reject with a reason, re-apply,
approve, staff accounts, profile."""

import pytest

from accounts.tests.factories import UserFactory
from merchants.errors import MerchantNotReviewable
from merchants.models import Merchant, MerchantStaff
from merchants.services import merchant_review
from merchants.tests.factories import MerchantStaffFactory, pay_deposit
from products.tests.factories import CategoryFactory
from shop.errors import ValidationFailed
from shop.notifications.models import Notification
from shop.payments.gateways.ecommerce_sandbox import sandbox_sub_mchid
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


def application(category_ids):
    return {
        "company_name": "好物商贸有限公司",
        "licence_no": "91310000MA1234567X",
        "contact_phone": "021-12345678",
        "category_ids": category_ids,
    }


def test_apply_reject_with_reason_reapply_approve(make_client):
    applicant = UserFactory()
    client = make_client(applicant)
    general = CategoryFactory(deposit_fen=200_000)
    ops = UserFactory(is_staff=True)

    created = client.post("/api/v1/merchant/applications", application([general.pk]), format="json")
    assert created.status_code == 201
    merchant_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    assert_error(client.post("/api/v1/merchant/products", {}, format="json"), 403, "not_merchant_staff")

    with pytest.raises(ValidationFailed):
        merchant_review(merchant_id=merchant_id, approve=False, reviewer=ops, reason="  ")
    merchant_review(merchant_id=merchant_id, approve=False, reviewer=ops, reason="营业执照照片不清晰")
    profile = client.get("/api/v1/merchant/profile").json()
    assert (profile["status"], profile["rejection_reason"]) == ("rejected", "营业执照照片不清晰")
    assert Notification.objects.get(recipient=applicant).kind == "merchant_reviewed"

    again = client.post("/api/v1/merchant/applications", application([general.pk]), format="json")
    assert (again.status_code, again.json()["id"], again.json()["status"]) == (201, merchant_id, "pending")

    merchant_review(merchant_id=merchant_id, approve=True, reviewer=ops)
    # With SANDBOX on, approval opens the merchant's secondary merchant (a stable id).
    assert Merchant.objects.get(pk=merchant_id).sub_mchid == sandbox_sub_mchid(f"merchant-{merchant_id}")
    profile = client.get("/api/v1/merchant/profile").json()
    assert profile["status"] == "approved"
    assert profile["rejection_reason"] == ""
    assert profile["deposit_balance_fen"] == 0
    assert profile["deposit_frozen"] is False
    assert profile["required_deposits"] == [
        {
            "category_id": general.pk,
            "name": general.name,
            "deposit_fen": 200_000,
            "covered": False,
            "commission_min_bps": general.commission_min_bps,
            "commission_max_bps": general.commission_max_bps,
        }
    ]
    assert client.get("/api/v1/me").json()["merchant_id"] == merchant_id


def test_a_decided_application_cannot_be_decided_again():
    merchant = MerchantStaffFactory().merchant  # approved

    with pytest.raises(MerchantNotReviewable):
        merchant_review(merchant_id=merchant.pk, approve=False, reviewer=None, reason="late")
    merchant.refresh_from_db()
    assert merchant.status == Merchant.Status.APPROVED


def test_staff_of_an_approved_merchant_cannot_apply_again(make_client):
    staff = MerchantStaffFactory()

    response = make_client(staff.user).post(
        "/api/v1/merchant/applications", application([CategoryFactory().pk]), format="json"
    )

    assert_error(response, 409, "merchant_already_exists")
    assert Merchant.objects.count() == 1


def test_invited_staff_cannot_invite_exit_or_remove_the_owner(make_client):
    owner = MerchantStaffFactory()
    newcomer = UserFactory()
    owner_client = make_client(owner.user)

    code = owner_client.post("/api/v1/merchant/staff/invitations", {"role": "operator"}, format="json")
    joined = make_client(newcomer).post("/api/v1/staff-invitations/accept", code.json(), format="json")
    assert joined.json()["role"] == "operator"

    newcomer_client = make_client(newcomer)
    assert newcomer_client.get("/api/v1/merchant/products").status_code == 200
    invite = newcomer_client.post("/api/v1/merchant/staff/invitations", {"role": "owner"}, format="json")
    assert_error(invite, 403, "not_merchant_owner")
    assert_error(
        newcomer_client.post("/api/v1/merchant/exit", {"confirm": "exit"}, format="json"),
        403,
        "not_merchant_owner",
    )
    assert_error(
        newcomer_client.delete(f"/api/v1/merchant/staff/{owner.pk}", {"confirm": "remove"}, format="json"),
        403,
    )

    staff_id = MerchantStaff.objects.get(user=newcomer).pk
    removed = owner_client.delete(f"/api/v1/merchant/staff/{staff_id}", {"confirm": "remove"}, format="json")
    assert removed.status_code == 204
    assert not MerchantStaff.objects.filter(user=newcomer).exists()


def test_owner_asks_to_leave_through_the_api(make_client):
    owner = MerchantStaffFactory()
    pay_deposit(owner.merchant, 10_000, payer=owner.user)

    response = make_client(owner.user).post("/api/v1/merchant/exit", {"confirm": "exit"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "exiting"
    assert body["deposit_balance_fen"] == 10_000
    assert body["deposit_refund_due_at"] is not None
    movements = make_client(owner.user).get("/api/v1/merchant/deposit-movements").json()
    assert [(m["kind"], m["amount_fen"]) for m in movements["results"]] == [("paid", 10_000)]

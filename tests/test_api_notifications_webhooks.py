"""``/notifications`` and ``/webhooks`` through the API (contract, permissions, errors)."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from merchants.models import Merchant
from merchants.tests.factories import MerchantStaffFactory
from shop.notifications.models import Notification, WebhookEndpoint
from shop.notifications.services import MAX_ACTIVE_WEBHOOKS_PER_USER, notification_send
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db


def test_marking_my_notification_read_keeps_the_first_time_and_filters_unread(make_client):
    me = UserFactory()
    client = make_client(me)
    first = notification_send(recipient_id=me.pk, kind="k", title="one")
    second = notification_send(recipient_id=me.pk, kind="k", title="two")

    read = client.post(f"/api/v1/notifications/{first.pk}/read")
    again = client.post(f"/api/v1/notifications/{first.pk}/read")
    unread = client.get("/api/v1/notifications?unread=true").json()

    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert again.json()["read_at"] == read.json()["read_at"]
    assert [n["id"] for n in unread["results"]] == [second.pk]
    assert unread["count"] == 1


def test_someone_elses_notification_is_not_found_and_stays_unread(make_client):
    owner = UserFactory()
    theirs = notification_send(recipient_id=owner.pk, kind="k", title="private")

    response = make_client(UserFactory()).post(f"/api/v1/notifications/{theirs.pk}/read")

    assert_error(response, 404, "notification_not_found")
    theirs.refresh_from_db()
    assert theirs.read_at is None


def approved_staff():
    return MerchantStaffFactory(merchant__status=Merchant.Status.APPROVED).user


def test_a_merchants_staff_registers_a_webhook_and_sees_the_secret_once(make_client):
    client = make_client(approved_staff())

    created = client.post(
        "/api/v1/webhooks",
        {"url": "https://erp.example.com/shop-events", "description": "ERP"},
        format="json",
    )
    listed = client.get("/api/v1/webhooks").json()

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["is_active"]) == ("https://erp.example.com/shop-events", True)
    assert listed["count"] == 1
    assert "secret" not in listed["results"][0]


def test_a_certified_leader_may_register_a_webhook(make_client):
    from groupstore.tests.factories import make_leader

    leader = make_leader()

    response = make_client(leader.user).post(
        "/api/v1/webhooks", {"url": "https://l.example.com/h"}, format="json"
    )

    assert response.status_code == 201


@pytest.mark.parametrize("who", ["shopper", "uncertified_leader", "unapproved_merchant"])
def test_others_may_not_register_webhooks(make_client, who):
    from groupstore.tests.factories import make_leader

    user = {
        "shopper": UserFactory,
        "uncertified_leader": lambda: make_leader(certified=False).user,
        "unapproved_merchant": lambda: MerchantStaffFactory(merchant__status=Merchant.Status.PENDING).user,
    }[who]()

    response = make_client(user).post("/api/v1/webhooks", {"url": "https://x.example.com/h"}, format="json")

    assert_error(response, 403, "webhooks_not_allowed")
    assert WebhookEndpoint.objects.exists() is False


@pytest.mark.parametrize(
    "url",
    [
        "http://erp.example.com/h",
        "https://127.0.0.1/h",
        "https://10.0.0.8/h",
        "https://169.254.169.254/latest",
        "https://[::1]/h",
        "https://localhost/h",
        "not a url",
    ],
)
def test_a_url_that_is_not_https_to_a_public_host_is_refused(make_client, url):
    response = make_client(approved_staff()).post("/api/v1/webhooks", {"url": url}, format="json")

    error = assert_error(response, 400)
    assert error["code"] in {"webhook_url_refused", "validation_error"}
    assert "url" in error["fields"]
    assert WebhookEndpoint.objects.exists() is False


def test_a_user_has_a_bounded_number_of_webhooks_and_may_remove_one(make_client):
    client = make_client(approved_staff())
    made = [
        client.post("/api/v1/webhooks", {"url": f"https://h{i}.example.com/"}, format="json").json()["id"]
        for i in range(MAX_ACTIVE_WEBHOOKS_PER_USER)
    ]

    over = client.post("/api/v1/webhooks", {"url": "https://one-more.example.com/"}, format="json")
    unconfirmed = client.delete(f"/api/v1/webhooks/{made[0]}")
    removed = client.delete(f"/api/v1/webhooks/{made[0]}", {"confirm": "delete"}, format="json")
    after = client.post("/api/v1/webhooks", {"url": "https://one-more.example.com/"}, format="json")

    assert_error(over, 409, "too_many_webhooks")
    assert_error(unconfirmed, 400, "confirmation_required")
    assert removed.status_code == 204
    assert after.status_code == 201


def test_someone_elses_webhook_cannot_be_removed(make_client):
    theirs = (
        make_client(approved_staff())
        .post("/api/v1/webhooks", {"url": "https://a.example.com/"}, format="json")
        .json()
    )

    response = make_client(approved_staff()).delete(
        f"/api/v1/webhooks/{theirs['id']}", {"confirm": "delete"}, format="json"
    )

    assert_error(response, 404, "webhook_not_found")
    assert WebhookEndpoint.objects.get(pk=theirs["id"]).is_active is True
    assert Notification.objects.exists() is False

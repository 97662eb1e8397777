"""``/me/subscriptions`` through the API: what the mini-program reports after
``wx.requestSubscribeMessage``, and the counts it answers (contract, errors, auth)."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.tests.factories import UserFactory
from shop.notifications.models import SubscribeGrant
from shop.notifications.tests.subscribe_helpers import template_id
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

PAID, SHIPPED, REFUND = template_id("order_paid"), template_id("order_shipped"), template_id("refund_made")


def test_the_mini_programs_answer_is_recorded_and_the_counts_answered(make_client):
    me = UserFactory()
    client = make_client(me)
    answer = {PAID: "accept", SHIPPED: "accept", REFUND: "reject", "errMsg": "requestSubscribeMessage:ok"}

    client.post("/api/v1/me/subscriptions", {"results": answer}, format="json")
    response = client.post(
        "/api/v1/me/subscriptions", {"results": {PAID: "accept", SHIPPED: "ban"}}, format="json"
    )

    assert response.status_code == 200, response.content
    counts = response.json()["counts"]
    assert (counts[PAID], counts[SHIPPED], counts[REFUND]) == (2, 0, 0)
    assert set(counts) == {t["template_id"] for t in settings.WECHAT_SUBSCRIBE_TEMPLATES.values()}
    assert client.get("/api/v1/me/subscriptions").json() == {"counts": counts}


def test_my_counts_are_mine_only(make_client):
    other = UserFactory()
    make_client(other).post("/api/v1/me/subscriptions", {"results": {PAID: "accept"}}, format="json")

    mine = make_client(UserFactory()).get("/api/v1/me/subscriptions").json()["counts"]

    assert mine[PAID] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"results": {"someone-elses-template": "accept"}}, "subscribe_result_invalid"),
        ({"results": {PAID: "accept", SHIPPED: "yes please"}}, "subscribe_result_invalid"),
        ({"results": {"errMsg": "requestSubscribeMessage:ok"}}, "subscribe_result_invalid"),
        ({"results": {}}, "validation_error"),
        ({"results": [PAID]}, "validation_error"),
        ({}, "validation_error"),
    ],
    ids=["not our template", "unknown answer", "nothing answered", "empty", "a list", "no results"],
)
def test_a_bad_report_is_a_400_and_records_nothing(make_client, body, code):
    response = make_client(UserFactory()).post("/api/v1/me/subscriptions", body, format="json")

    assert_error(response, 400, code)
    assert not SubscribeGrant.objects.exists()


def test_anonymous_callers_are_refused(make_client):
    anonymous = make_client()
    assert anonymous.get("/api/v1/me/subscriptions").status_code == 401
    assert (
        anonymous.post("/api/v1/me/subscriptions", {"results": {PAID: "accept"}}, format="json").status_code
        == 401
    )


def test_erasing_the_account_forgets_its_subscriptions_and_messages(make_client):
    from accounts.privacy import user_erase
    from shop.notifications.models import SubscribeMessage
    from shop.notifications.tests.subscribe_helpers import subscribe_message

    me, other = UserFactory(), UserFactory()
    for user in (me, other):
        make_client(user).post("/api/v1/me/subscriptions", {"results": {PAID: "accept"}}, format="json")
        subscribe_message(user=user)

    user_erase(user_id=me.pk)

    assert not SubscribeGrant.objects.filter(user=me).exists()
    assert not SubscribeMessage.objects.filter(recipient=me).exists()
    assert SubscribeGrant.objects.filter(user=other).exists()
    assert SubscribeMessage.objects.filter(recipient=other).exists()

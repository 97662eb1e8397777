"""Anti-spam throttles trip at the configured rate and answer 429 in the error shape with
``Retry-After``: login (per address), store creation, joining, red-envelope claims and
withdrawals (per user). Each bucket
is keyed by an address or a user id no other test run in the shared Redis uses."""

from __future__ import annotations

import random

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from groupstore.models import Membership, Store
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

RATE = "3/hour"


@pytest.fixture
def low_rate(settings):
    def _set(scope: str) -> None:
        rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**rates, scope: RATE},
        }

    return _set


@pytest.fixture
def lone_user(client_as):
    """A user with an id no other test run will reach, with its throttle buckets cleared."""
    user = UserFactory(pk=random.randint(10**12, 10**13))
    scopes = ("store_create", "store_join", "envelope_claim", "withdrawal_create")
    keys = [f"throttle_{scope}_{user.pk}" for scope in scopes]
    cache.delete_many(keys)
    yield user
    cache.delete_many(keys)


def test_login_trips_at_the_configured_rate(low_rate):
    low_rate("login")
    address = f"198.51.100.{random.randint(1, 254)}"
    cache.delete(f"throttle_login_{address}")
    client = APIClient(REMOTE_ADDR=address)
    try:
        answers = [
            client.post("/api/v1/auth/wechat-login", {"code": f"sandbox:t{i}"}, format="json").status_code
            for i in range(3)
        ]
        refused = client.post("/api/v1/auth/wechat-login", {"code": "sandbox:t9"}, format="json")
        elsewhere = APIClient(REMOTE_ADDR="203.0.113.9").post("/api/v1/auth/wechat-login", {}, format="json")
    finally:
        cache.delete_many([f"throttle_login_{address}", "throttle_login_203.0.113.9"])

    assert answers == [200, 200, 200]
    assert_error(refused, 429, "throttled")
    assert int(refused["Retry-After"]) > 0
    assert elsewhere.status_code == 400  # another address is not affected (and sent no code)


def test_store_creation_trips_at_the_configured_rate_and_creates_nothing_more(low_rate, lone_user, world):
    low_rate("store_create")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(lone_user)}")

    answers = [client.post("/api/v1/stores", {"name": f"群{i}"}, format="json").status_code for i in range(4)]

    assert answers[:3] == [201, 201, 201]
    assert answers[3] == 429
    assert Store.objects.filter(owner=lone_user).count() == 3


def test_joining_trips_at_the_configured_rate_and_joins_nothing_more(low_rate, lone_user, world):
    low_rate("store_join")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(lone_user)}")
    from groupstore.tests.factories import make_store

    tokens = [make_store()[1] for _ in range(4)]

    answers = [client.post("/api/v1/stores/join", {"share_token": t}, format="json") for t in tokens]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert_error(answers[3], 429, "throttled")
    assert Membership.objects.filter(user=lone_user).count() == 3


def test_envelope_claims_trip_at_the_configured_rate(low_rate, lone_user, world):
    low_rate("envelope_claim")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(lone_user)}")

    answers = [client.post(f"/api/v1/red-envelopes/{world.envelope.pk}/claim") for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [404, 404, 404]  # not a member: refused each time
    assert_error(answers[3], 429, "throttled")


def test_withdrawals_trip_at_the_configured_rate_and_record_nothing_more(low_rate, lone_user, world):
    from rebates.models import Withdrawal
    from rebates.tests.helpers import fund_wallet

    low_rate("withdrawal_create")
    fund_wallet(lone_user, 1_000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(lone_user)}")

    answers = [
        client.post("/api/v1/wallet/withdrawals", {"amount_fen": 100}, format="json") for _ in range(4)
    ]

    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    assert_error(answers[3], 429, "throttled")
    assert Withdrawal.objects.filter(user=lone_user).count() == 3
    assert client.get("/api/v1/wallet/withdrawals").status_code == 200  # reading is not throttled


def _token(user) -> str:
    from accounts.services import token_issue

    return token_issue(user=user)

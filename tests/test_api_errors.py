"""The cross-cutting error contract (docs/api.md "Conventions"): every failure, whatever
raised it, answers ``{"error": {"code", "message", "fields"?}}`` — unknown URLs, wrong
methods, bad tokens, unparseable bodies and our own bugs — plus pagination and the
request id."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuthToken
from accounts.services import token_hash, token_issue, user_freeze
from accounts.tests.factories import UserFactory
from groupstore.tests.factories import make_store
from shop import urls as project_urls
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

# Every authenticated endpoint of the purchase path (ids need not exist: auth comes first).
AUTHENTICATED_ENDPOINTS = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/stores"),
    ("post", "/api/v1/stores"),
    ("post", "/api/v1/stores/join"),
    ("get", "/api/v1/stores/1"),
    ("post", "/api/v1/stores/1/share-links"),
    ("get", "/api/v1/stores/1/dashboard"),
    ("get", "/api/v1/stores/1/members"),
    ("post", "/api/v1/checkout/quote"),
    ("get", "/api/v1/orders"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/1"),
    ("post", "/api/v1/orders/1/cancel"),
    ("post", "/api/v1/orders/1/confirm-receipt"),
    ("post", "/api/v1/sandbox/payments/1/pay"),
    ("get", "/api/v1/merchant/orders"),
    ("post", "/api/v1/merchant/orders/1/ship"),
    ("get", "/api/v1/wallet"),
]


# --- Unknown URLs and wrong methods -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/nope"),
        ("post", "/nope"),
        ("get", "/api/v1/nope"),
        ("post", "/api/v1/nope"),
        ("get", "/api/v1/stores/"),  # no trailing slashes in the API
        ("get", "/api/v1/orders/abc"),
        ("get", "/api/v2/orders"),
    ],
)
@pytest.mark.parametrize("debug", [False, True], ids=["production", "make-run"])
def test_unknown_url_answers_the_json_error_shape(api_client, settings, method, url, debug):
    settings.DEBUG = debug  # with DEBUG on, Django would answer its HTML debug page

    response = getattr(api_client, method)(url)

    assert_error(response, 404, "not_found")
    assert response["Content-Type"].startswith("application/json")


def test_admin_without_its_slash_still_redirects(client):
    assert client.get("/admin").status_code == 301


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("get", "/api/v1/auth/wechat-login", "POST"),
        ("post", "/api/v1/wallet", "GET"),
        ("delete", "/api/v1/orders/1", "GET"),
        ("put", "/api/v1/stores/join", "POST"),
        ("get", "/api/v1/orders/1/cancel", "POST"),
    ],
)
def test_wrong_method_answers_405_with_allow(make_client, method, url, allowed):
    client = make_client(UserFactory())

    response = getattr(client, method)(url)

    assert_error(response, 405, "method_not_allowed")
    assert allowed in response["Allow"]


# --- Authentication -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), AUTHENTICATED_ENDPOINTS)
def test_every_endpoint_of_the_path_needs_a_token(api_client, method, url):
    response = (
        getattr(api_client, method)(url, {}, format="json") if method == "post" else api_client.get(url)
    )

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer", id="no-token"),
        pytest.param("Bearer two parts", id="three-parts"),
        pytest.param("Bearer not-a-token-we-issued", id="unknown"),
        pytest.param("Bearer \u00e9t\u00e9", id="latin1-bytes"),
    ],
)
def test_a_malformed_or_unknown_token_is_refused(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get("/api/v1/wallet")

    assert_error(response, 401, "authentication_failed")


def test_another_scheme_counts_as_no_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")

    assert_error(api_client.get("/api/v1/wallet"), 401, "not_authenticated")


def test_an_expired_token_is_refused(api_client):
    raw = token_issue(user=UserFactory())
    AuthToken.objects.filter(key_hash=token_hash(raw)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert_error(api_client.get("/api/v1/wallet"), 401, "authentication_failed")


def test_freezing_a_user_revokes_the_tokens_already_issued(api_client):
    user = UserFactory()
    raw = token_issue(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get("/api/v1/wallet").status_code == 200

    user_freeze(user_id=user.pk)

    assert_error(api_client.get("/api/v1/wallet"), 401, "authentication_failed")
    assert AuthToken.objects.get(key_hash=token_hash(raw)).revoked_at is not None


def test_a_frozen_user_with_a_live_token_is_refused(api_client):
    # A freeze written without the service (e.g. straight in the database) still locks the user out.
    user = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    type(user).objects.filter(pk=user.pk).update(is_frozen=True)

    assert_error(api_client.get("/api/v1/wallet"), 401, "authentication_failed")


def test_a_revoked_token_is_refused(api_client):
    raw = token_issue(user=UserFactory())
    AuthToken.objects.filter(key_hash=token_hash(raw)).update(revoked_at=timezone.now())
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert_error(api_client.get("/api/v1/wallet"), 401, "authentication_failed")


# --- Bodies we cannot read ----------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/stores", "/api/v1/orders", "/api/v1/checkout/quote", "/api/v1/stores/join"]
)
def test_malformed_json_is_a_400_parse_error(make_client, url):
    client = make_client(UserFactory())

    response = client.post(url, data='{"name": "宝妈团",', content_type="application/json")

    error = assert_error(response, 400, "parse_error")
    assert "fields" not in error


def test_malformed_json_on_login_is_a_400_parse_error(api_client):
    response = api_client.post(
        "/api/v1/auth/wechat-login", data="{code: sandbox:x}", content_type="application/json"
    )

    assert_error(response, 400, "parse_error")


def test_an_unsupported_content_type_is_a_415(make_client):
    client = make_client(UserFactory())

    response = client.post("/api/v1/stores", data="name=x", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


def test_validation_errors_list_the_fields(make_client):
    client = make_client(UserFactory())

    response = client.post("/api/v1/orders", {"items": [{"sku_id": "x", "qty": 0}]}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"store_id", "items.0.sku_id", "items.0.qty", "address"}
    assert all(isinstance(problems, list) and problems for problems in error["fields"].values())


# --- Our own bugs -------------------------------------------------------------------


def test_an_unexpected_exception_is_a_500_without_a_stack_trace(make_client, caplog):
    client = make_client(UserFactory())
    client.raise_request_exception = False

    with (
        mock.patch(
            "rebates.api.views.wallet_get", side_effect=RuntimeError("password=hunter2 at ledger.py:42")
        ),
        caplog.at_level(logging.ERROR, logger="shop.api"),
    ):
        response = client.get("/api/v1/wallet", HTTP_X_REQUEST_ID="req-500-test")

    error = assert_error(response, 500, "internal_error")
    assert "req-500-test" in error["message"]
    assert response["X-Request-ID"] == "req-500-test"
    for leak in (b"Traceback", b"hunter2", b"RuntimeError", b"ledger.py"):
        assert leak not in response.content
    logged = [r for r in caplog.records if r.name == "shop.api" and r.exc_info]
    assert len(logged) == 1
    assert logged[0].request_id == "req-500-test"


def _crash(request):
    raise RuntimeError("password=hunter2")


# This module doubles as a URLconf: the project's URLs plus a plain Django view that crashes.
urlpatterns = [path("crash", _crash), *project_urls.urlpatterns]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@override_settings(ROOT_URLCONF=__name__)
def test_a_crash_outside_drf_is_a_json_500_too(client):
    client.raise_request_exception = False

    response = client.get("/crash", HTTP_X_REQUEST_ID="req-crash")

    error = assert_error(response, 500, "internal_error")
    assert "req-crash" in error["message"]
    assert b"hunter2" not in response.content


# --- Pagination and request ids -----------------------------------------------------


def test_lists_are_paginated(make_client):
    user = UserFactory()
    for name in ("A", "B", "C"):
        make_store(owner=user, name=name)
    client = make_client(user)

    first = client.get("/api/v1/stores", {"page_size": 2})
    second = client.get("/api/v1/stores", {"page_size": 2, "page": 2})

    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["previous"] is None
    assert "page=2" in body["next"]
    assert second.json()["next"] is None
    assert second.json()["previous"] is not None
    assert [s["name"] for s in body["results"] + second.json()["results"]] == ["C", "B", "A"]


@pytest.mark.parametrize("page", ["99", "abc", "0"])
def test_a_page_out_of_range_is_a_404_error(make_client, page):
    user = UserFactory()
    make_store(owner=user)

    response = make_client(user).get("/api/v1/stores", {"page": page})

    assert_error(response, 404, "not_found")


def test_an_empty_list_is_still_paginated(make_client):
    response = make_client(UserFactory()).get("/api/v1/orders")

    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("url", ["/api/v1/wallet", "/api/v1/nope", "/nope"])
def test_the_request_id_is_echoed(make_client, url):
    client = make_client(UserFactory())

    response = client.get(url, HTTP_X_REQUEST_ID="abc-123.DEF_456")

    assert response["X-Request-ID"] == "abc-123.DEF_456"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 65, "<script>"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(make_client, sent):
    client = make_client(UserFactory())
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    first = client.get("/api/v1/wallet", **headers)
    second = client.get("/api/v1/wallet", **headers)

    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_an_error_response_carries_the_request_id(api_client):
    response = api_client.get("/api/v1/wallet", HTTP_X_REQUEST_ID="trace-me")

    assert_error(response, 401)
    assert response["X-Request-ID"] == "trace-me"


def test_login_throttling_answers_429_in_the_error_shape(settings):
    # The production default rate, and an address of its own, so no other test shares this bucket.
    from django.core.cache import cache

    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login": "30/minute"},
    }

    address = "198.51.100.77"
    cache.delete(f"throttle_login_{address}")
    client = APIClient(REMOTE_ADDR=address)
    try:
        answers = [client.post("/api/v1/auth/wechat-login", {}, format="json").status_code for _ in range(31)]
        response = client.post("/api/v1/auth/wechat-login", {}, format="json")
    finally:
        cache.delete(f"throttle_login_{address}")

    assert set(answers[:30]) == {400}
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0

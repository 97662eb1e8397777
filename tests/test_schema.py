"""The published contract: the OpenAPI schema agrees with docs/api.md, the browsable docs
work offline, and ``/healthz`` reports what ops and load balancers need."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.staticfiles import finders

from shop.api import health
from shop.api.schema_tags import SUMMARIES, TAGS

pytestmark = pytest.mark.django_db

# The docs/api.md calls of the purchase path, as the schema names them.
PATH_OPERATIONS = {
    "/api/v1/auth/wechat-login": {"post"},
    "/api/v1/me": {"get"},
    "/api/v1/stores": {"get", "post"},
    "/api/v1/stores/join": {"post"},
    "/api/v1/stores/{store_id}": {"get"},
    "/api/v1/stores/{store_id}/share-links": {"post"},
    "/api/v1/stores/{store_id}/share-links/{token}/poster": {"get"},
    "/api/v1/share-scenes/{scene}": {"get"},
    "/api/v1/stores/{store_id}/dashboard": {"get"},
    "/api/v1/stores/{store_id}/members": {"get"},
    "/api/v1/checkout/quote": {"post"},
    "/api/v1/orders": {"get", "post"},
    "/api/v1/orders/{order_id}": {"get"},
    "/api/v1/orders/{order_id}/cancel": {"post"},
    "/api/v1/orders/{order_id}/confirm-receipt": {"post"},
    "/api/v1/payments/{gateway}/notify": {"post"},
    "/api/v1/sandbox/payments/{payment_id}/pay": {"post"},
    "/api/v1/merchant/orders": {"get"},
    "/api/v1/merchant/orders/{order_id}/ship": {"post"},
    "/api/v1/merchant/flash-offers": {"get", "post"},
    "/api/v1/stores/{store_id}/flash-offers": {"get"},
    "/api/v1/wallet": {"get"},
    "/api/v1/coupons": {"get"},
    "/api/v1/coupons/redeem": {"post"},
    "/api/v1/stores/{store_id}/selection": {"get", "put"},
    "/api/v1/leaders/me/orders": {"get"},
    "/api/v1/leaders/me/pickup-point": {"get", "put", "delete"},
    "/api/v1/leaders/me/orders/{order_id}/arrived": {"post"},
    "/api/v1/leaders/me/pickups": {"post"},
    "/api/v1/orders/{order_id}/pickup": {"get"},
}

# Request bodies as docs/api.md gives them: (path, required fields, optional fields).
REQUEST_BODIES = [
    ("/api/v1/auth/wechat-login", {"code"}, {"nickname", "avatar_url"}),
    ("/api/v1/stores", {"name"}, {"group"}),
    ("/api/v1/stores/join", {"share_token"}, {"group"}),
    ("/api/v1/stores/{store_id}/share-links", set(), {"product_id"}),
    ("/api/v1/checkout/quote", {"store_id", "items"}, set()),
    # ``address``, or ``delivery`` to a leader's pickup point instead (one of them: the view says so)
    ("/api/v1/orders", {"store_id", "items"}, {"address", "delivery"}),
    ("/api/v1/leaders/me/pickups", {"code"}, set()),
    ("/api/v1/merchant/orders/{order_id}/ship", {"carrier", "tracking_no"}, set()),
    (
        "/api/v1/merchant/flash-offers",
        {"sku_id", "flash_price_fen", "units", "per_buyer_limit", "starts_at", "ends_at"},
        set(),
    ),
    ("/api/v1/coupons/redeem", {"code"}, set()),
]


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return response.json()


def _request_schema(schema: dict, path: str) -> dict:
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    return schema["components"]["schemas"][name]


def test_the_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]


def test_the_schema_is_served_as_yaml_by_default(api_client):
    response = api_client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize(("path", "methods"), PATH_OPERATIONS.items(), ids=list(PATH_OPERATIONS))
def test_the_schema_has_every_call_of_the_path(schema, path, methods):
    assert path in schema["paths"], sorted(schema["paths"])
    assert methods <= set(schema["paths"][path])


@pytest.mark.parametrize(
    ("path", "required", "optional"), REQUEST_BODIES, ids=[p for p, _, _ in REQUEST_BODIES]
)
def test_each_request_body_is_documented_with_its_own_fields(schema, path, required, optional):
    body = _request_schema(schema, path)

    assert set(body.get("required", [])) == required
    assert required | optional <= set(body["properties"])


def test_checkout_items_are_documented_with_bounds(schema):
    items = _request_schema(schema, "/api/v1/checkout/quote")["properties"]["items"]
    item_ref = items["items"]["$ref"].rsplit("/", 1)[-1]
    qty = schema["components"]["schemas"][item_ref]["properties"]["qty"]

    assert qty["type"] == "integer"
    assert qty["minimum"] == 1
    assert qty["maximum"] == 999


def test_components_are_described_by_their_own_docstrings_not_the_house_bases(schema):
    from shop.api import serializers

    plumbing = {serializers.Serializer.__doc__.split("(")[0].strip(), "The house ``ModelSerializer``"}
    described = {
        name: component.get("description", "") for name, component in schema["components"]["schemas"].items()
    }

    assert not {name for name, text in described.items() if any(p in text for p in plumbing)}
    assert described["DeliveryOutput"].startswith("How the order was shipped")


def test_bearer_authentication_is_declared(schema):
    schemes = schema["components"]["securitySchemes"]
    bearer = [
        name
        for name, scheme in schemes.items()
        if (scheme["type"], scheme.get("scheme")) == ("http", "bearer")
    ]

    assert bearer
    assert {bearer[0]: []} in schema["paths"]["/api/v1/wallet"]["get"]["security"]
    assert {bearer[0]: []} in schema["paths"]["/api/v1/orders"]["post"]["security"]


@pytest.mark.parametrize("path", ["/api/v1/auth/wechat-login", "/api/v1/payments/{gateway}/notify"])
def test_login_and_gateway_callbacks_need_no_token(schema, path):
    security = schema["paths"][path]["post"].get("security")

    assert not security or {} in security


def test_lists_are_documented_as_paginated(schema):
    response = schema["paths"]["/api/v1/orders"]["get"]["responses"]["200"]
    ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    assert {"count", "next", "previous", "results"} <= set(schema["components"]["schemas"][ref]["properties"])


# --- The browsable docs ---------------------------------------------------------------


def test_the_docs_page_uses_only_local_assets(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert assets, html[:500]
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not shipped with the app"
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE), "a remote URL"
    assert 'url: "/api/schema/"' in html


# --- Health -----------------------------------------------------------------------------


def test_healthz_reports_each_check(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"status", "checks"}
    assert body["status"] in {"ok", "degraded"}
    assert {"database", "cache", "broker", "worker"} <= set(body["checks"])
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"


def test_healthz_answers_503_when_the_database_is_down(api_client):
    def broken() -> str:
        raise ConnectionError("could not connect to server")

    with mock.patch.dict(health.CHECKS, {"database": broken, "worker": lambda: "ok"}):
        response = api_client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["checks"]["database"] == "error: ConnectionError"
    assert b"could not connect" not in response.content


def test_healthz_needs_no_token_and_ignores_a_bad_one(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    with mock.patch.dict(health.CHECKS, {"worker": lambda: "ok"}):
        response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_every_operation_has_one_tag_of_the_table_of_contents_and_a_summary(schema):
    """``/api/docs/`` reads as a table of contents (shop/api/schema_tags.py): a new endpoint no
    rule places fails here."""
    tags = [tag["name"] for tag in schema["tags"]]
    assert tags == [name for name, _ in TAGS]
    untagged, unsummarised = [], []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if len(operation.get("tags", [])) != 1 or operation["tags"][0] not in tags:
                untagged.append(f"{method.upper()} {path}: {operation.get('tags')}")
            if (method, path) not in SUMMARIES:
                unsummarised.append(f"{method.upper()} {path}")
    assert not untagged, "add a rule to shop/api/schema_tags.py for: " + ", ".join(untagged)
    assert not unsummarised, "add a line to SUMMARIES in shop/api/schema_tags.py for: " + ", ".join(
        unsummarised
    )


@pytest.mark.parametrize(
    ("path", "tag"),
    [
        ("/api/v1/orders/{order_id}/after-sales", "Shopper · orders"),
        ("/api/v1/merchant/after-sales", "Merchant · orders"),
        ("/api/v1/stores/{store_id}/dashboard", "Owner & leader"),
        ("/api/v1/stores/{store_id}/red-envelopes", "Shopper · group stores"),
        ("/api/v1/stores/{store_id}/flash-offers", "Shopper · group stores"),
        ("/api/v1/merchant/flash-offers", "Merchant · catalog"),
        ("/api/v1/coupons", "Shopper · wallet"),
        ("/api/v1/payments/{gateway}/notify", "Payments · callbacks"),
        ("/api/v1/me/export", "Shopper · account"),
    ],
)
def test_operations_land_in_their_audiences_section(schema, path, tag):
    assert {op["tags"][0] for op in schema["paths"][path].values()} == {tag}


def test_docs_api_md_lists_every_operation(schema):
    """``docs/api.md`` maps the API for a person who clones the repository: kept true here."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    missing = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if f"`{method.upper()} {path.replace('/api/v1', '')}`" not in text
    ]
    assert not missing, "list these in docs/api.md: " + ", ".join(missing)

"""Property-based fuzzing of every operation in our own ``/api/schema/`` (issue 7).

Schemathesis reads the schema the running app serves (in-process, through WSGI, on the
PostgreSQL test database) and throws generated requests — valid ones and deliberately
invalid ones — at every operation, as each of three callers: a shopper, a store owner
(a certified leader with members) and a merchant's staff member. For every response:

- never a 5xx;
- the status is one the operation declares, the content type and body match the schema;
- every 4xx is the documented error shape ``{"error": {"code", "message", "fields"?}}``.

Gateway callbacks (``/payments/*/notify``, ``/payouts/*/notify``) answer the gateway in the
gateway's own format, so they are held to "no 5xx" only.

New endpoints are picked up on their own: they appear in the schema, so they are fuzzed.
Path ids are the seeded objects' half of the time (so the fuzzer reaches the code behind
the 404), random the other half. ``FUZZ_MAX_EXAMPLES`` raises the number of examples per
operation and caller (default kept small so the whole run stays within a few minutes).
"""

from __future__ import annotations

import collections
import json
import os
import re
from unittest import mock

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shop.api import health
from shop.wsgi import application
from tests.world import ADDRESS, World

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))
CALLBACKS = re.compile(r"^/api/v1/(payments|payouts)/[^/]+/notify$")
ROLES = ("shopper", "owner", "merchant_user")

config = schemathesis.Config.from_dict(
    {
        "suppress-health-check": ["all"],
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": os.environ.get("FUZZ_RANDOM") != "1",
            "database": "none",
            "allow-x00": False,  # PostgreSQL text cannot hold NUL; DRF refuses it anyway (400)
        },
        "phases": {
            "examples": {"enabled": True},
            # Boundary values of every parameter: thorough but slow; FUZZ_COVERAGE=1 turns it on.
            "coverage": {"enabled": os.environ.get("FUZZ_COVERAGE") == "1"},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)


@schemathesis.check
def error_shape_on_every_4xx(ctx, response, case):
    """A 4xx body is exactly ``{"error": {"code": snake_case, "message": str, "fields"?: {...}}}``."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error
    assert isinstance(error["message"], str), error
    if "fields" in error:  # validation errors only: the generic one or a service's named one
        assert response.status_code in (400, 422), error
        for problems in error["fields"].values():
            assert isinstance(problems, list), error
            assert all(isinstance(problem, str) for problem in problems), error
    return True


STATUSES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@schemathesis.check
def record_status(ctx, response, case):
    """Not a check: tallies statuses per operation, to show how deep the fuzzer got."""
    STATUSES[case.operation.label][response.status_code] += 1
    return


POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_shape_on_every_4xx,
    record_status,
]


def seeded_path_ids(world: World, role: str) -> dict[str, object]:
    """The seeded object behind each path parameter, as ``role`` would ask for it."""
    merchant = world.merchant_user
    return {
        "store_id": world.store.pk,
        "product_id": world.product.pk if role != "merchant_user" else world.draft_product.pk,
        "sku_id": world.sku.pk,
        "order_id": world.paid_order.pk if role == "merchant_user" else world.order.pk,
        "payment_id": world.order.payment_id,
        "notification_id": (
            world.merchant_notification.pk if role == "merchant_user" else world.shopper_notification.pk
        ),
        "webhook_id": world.webhook.pk,
        "upload_id": world.stock_upload.pk,
        "staff_id": merchant.pk,
        "statement_id": world.statement.pk,
        "gateway": "sandbox",
    }


def seeded_body_values(world: World) -> dict[str, object]:
    """Ids the request bodies refer to (a store to buy through, a SKU, a category …)."""
    return {
        "store_id": world.store.pk,
        "sku_id": world.sku.pk,
        "product_id": world.product.pk,
        "product_ids": [world.product.pk],
        "category_id": world.product.category_id,
        "category_ids": [world.product.category_id],
        "share_token": world.share_token,
    }


def body_overlays(world: World) -> dict[str, dict]:
    """Whole fields some operations need before they do anything at all (a sandbox login
    code, a buyable line and an address), laid over the generated body."""
    line = [{"sku_id": world.sku.pk, "qty": 1}]
    return {
        "/api/v1/auth/wechat-login": {"code": "sandbox:fuzz-shopper"},
        "/api/v1/checkout/quote": {"store_id": world.store.pk, "items": line},
        "/api/v1/orders": {"store_id": world.store.pk, "items": line, "address": ADDRESS},
    }


def _substitute(value, seeded: dict[str, object]):
    if isinstance(value, dict):
        return {k: seeded[k] if k in seeded else _substitute(v, seeded) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, seeded) for v in value]
    return value


@pytest.fixture(scope="module", autouse=True)
def _status_tally():
    """Leaves ``var/artifacts/fuzz-statuses.json``: per operation, how often each status came back."""
    yield
    from django.conf import settings

    out = settings.VAR_DIR / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    tally = {label: dict(sorted(counts.items())) for label, counts in sorted(STATUSES.items())}
    (out / "fuzz-statuses.json").write_text(json.dumps(tally, indent=1))


@pytest.fixture(autouse=True)
def _no_worker_ping():
    """``/healthz`` pings Celery workers with a 1 s timeout; none runs here, so answer at once."""
    with mock.patch.dict(health.CHECKS, {"worker": lambda: "no worker answered"}):
        yield


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django's WSGI handler closes the database connection at the end of each request
    (``close_old_connections``); here that is the test's own transaction. Django's test
    client unhooks it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@schema.given(use_seeded_ids=st.booleans())
def test_fuzz(case, use_seeded_ids, role, world):
    if role != ROLES[0] and not case.operation.definition.raw.get("security"):
        pytest.skip("an operation without authentication is fuzzed once, not once per caller")
    if use_seeded_ids and case.path_parameters:
        seeded = seeded_path_ids(world, role)
        for name in list(case.path_parameters):
            if name in seeded:
                case.path_parameters[name] = seeded[name]
    if use_seeded_ids and isinstance(case.body, dict):
        body = _substitute(case.body, seeded_body_values(world))
        case.body = {**body, **body_overlays(world).get(case.operation.path, {})}
    headers = world.auth(role)
    if CALLBACKS.match(case.operation.path):
        case.call_and_validate(headers=headers, checks=[not_a_server_error, record_status])
    else:
        case.call_and_validate(headers=headers, checks=POSITIVE_CHECKS)

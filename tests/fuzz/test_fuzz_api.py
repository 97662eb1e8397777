"""Property-based fuzzing of every operation in our own ``/api/schema/`` (issue 7).

Schemathesis reads the schema the running app serves (in-process, through WSGI, on the
PostgreSQL test database) and throws generated requests — valid ones and deliberately
invalid ones — at every operation, as each of three callers: a shopper, a store owner
(a certified leader with members) and a merchant's staff member. For every response:

- never a 5xx;
- the status is one the operation declares, the content type and body match the schema;
- every 4xx is the documented error shape ``{"error": {"code", "message", "fields"?}}``;
- schema-valid data is accepted and schema-violating data refused (issue 19, item 9): the
  schema states every rule the code enforces, and the code enforces every rule the schema
  states. The one exception, by name: a body naming an object that does not exist
  (``UNKNOWN_OBJECT_CODES``, ``REFERENCE_FIELD``) may be a 400, which no schema can predict;
  apart from it, three named rules no generator can be made to honour (cross-field
  comparisons, a ``propertyNames`` rule schemathesis ignores, a file's content). Data is
  seeded or made valid only in schema-valid cases, and a case whose headers are the invalid
  part is sent without our token, so that no violation under test is undone.

And on every operation, whatever its body (``test_hostile_bodies``): a JSON body nested
far too deep, and one over the size limit, are a 4xx in the error shape (issue 19, items
1 and 2).

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
import zlib
from unittest import mock

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.parameters import ParameterLocation

from shop.api import health
from shop.api.confirm import DESTRUCTIVE_ENDPOINTS
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


# "Schema-valid data is accepted" has one exception, by name: a body naming an object that
# does not exist (a random id, invitation code, team, WeChat share ticket, or a subscribe
# message template id we do not send) may be refused
# with 400 — a schema says what an id looks like, not which ids exist. Recognised by the
# error's code, or by a validation error all of whose fields are references.
UNKNOWN_OBJECT_CODES = frozenset(
    {"invitation_code_invalid", "share_ticket_invalid", "subscribe_result_invalid"}
)
# store_id, items.0.sku_id, category_ids.1; ``team``: a team offer to open or a team to join.
REFERENCE_FIELD = re.compile(r"^(.+\.)?(\w+_ids?(\.\d+)?|team)$")

# Three more tolerated 400s, each for a rule no schema can make a generator honour; listed
# apart, by field or code, so that nothing else slips through with them:
# - rules comparing a field with another field or object (a SKU's team or flash price below
#   its price, a team price given with a team size; its commission within the bounds ops
#   set on its category; a flash offer's price below its SKU's, its units within the SKU's
#   stock, its per-buyer limit within its units, its window opening after now and ending
#   after it opens), said in words only;
CROSS_FIELD_RULES = frozenset(
    {
        "team_price_fen",
        "flash_price_fen",
        "commission_bps",
        "units",
        "per_buyer_limit",
        "starts_at",
        "ends_at",
    }
)
# - a rule the schema states that schemathesis 4.32 does not generate by (a SKU's spec
#   names, ``propertyNames``: 1 to 20 characters, not blank);
UNGENERATED_RULES = frozenset({"spec"})
# - a file's content, which a schema can only call "binary" (the stock upload's own codes).
FILE_CONTENT_CODES = frozenset(
    {"upload_unreadable", "upload_empty", "upload_bad_header", "upload_bad_encoding", "upload_too_large"}
)


# DRF's own messages about a value's shape: a schema can state those, so on a reference
# field they are a disagreement, not an unknown object (an empty category_ids list was one).
SHAPE_MESSAGE = re.compile(r"may not be (empty|blank|null)|is required|valid integer|Ensure this|Expected a")


def _is_unknown_reference(name: str, messages: list[str]) -> bool:
    return bool(REFERENCE_FIELD.match(name)) and not any(map(SHAPE_MESSAGE.search, messages))


def names_an_unknown_object(error: dict) -> bool:
    fields = error.get("fields") or {}
    if error.get("code") in UNKNOWN_OBJECT_CODES:
        return True
    return (
        error.get("code") == "validation_error"
        and bool(fields)
        and all(_is_unknown_reference(name, messages) for name, messages in fields.items())
    )


def breaks_a_rule_no_schema_can_state(error: dict) -> bool:
    fields = error.get("fields") or {}
    if error.get("code") in FILE_CONTENT_CODES:
        return True

    def listed(name: str) -> bool:  # "skus.4.spec" is a SKU's spec
        return name.rsplit(".", 1)[-1] in CROSS_FIELD_RULES | UNGENERATED_RULES

    return (
        error.get("code") == "validation_error"
        and any(map(listed, fields))
        and all(listed(name) or _is_unknown_reference(name, messages) for name, messages in fields.items())
    )


@schemathesis.check
def schema_valid_data_is_accepted(ctx, response, case):
    """schemathesis' ``positive_data_acceptance``, with the exceptions above (a 400 only)."""
    if response.status_code == 400:
        error = response.json().get("error", {})
        if names_an_unknown_object(error) or breaks_a_rule_no_schema_can_state(error):
            return True
    return positive_data_acceptance(ctx, response, case)


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
    schema_valid_data_is_accepted,
    negative_data_rejection,
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
        # an address, so never a pickup delivery as well (None: the field is taken out)
        "/api/v1/orders": {"store_id": world.store.pk, "items": line, "address": ADDRESS, "delivery": None},
    }


def valid_value_overlays() -> dict[str, dict]:
    """Fields whose valid values the schema describes only loosely, laid over every
    schema-valid body: a public https URL (the schema states its shape; the host must also
    be public, which a schema cannot know)."""
    return {
        "/api/v1/webhooks": {"url": "https://hooks.example.com/fuzz"},
    }


def _negated(case, location: ParameterLocation) -> bool:
    meta = case.meta
    component = meta.components.get(location) if meta is not None else None
    return component is not None and component.mode.is_negative


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
def _wechat_accepts_every_code():
    """WeChat is outside our walls: its code2Session answers every login code with an
    openid derived from it (a real code is opaque to the schema, like a sandbox one)."""

    def answer(url, params, timeout):
        openid = f"fuzz-{zlib.crc32(params['js_code'].encode())}"
        return mock.Mock(status_code=200, json=mock.Mock(return_value={"openid": openid, "session_key": "k"}))

    with mock.patch("accounts.wechat.requests.get", side_effect=answer):
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
    # Seeded and valid values replace generated ones only in schema-valid cases: laid over a
    # deliberately invalid case, they could undo the very violation under test.
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and use_seeded_ids and case.path_parameters:
        seeded = seeded_path_ids(world, role)
        for name in list(case.path_parameters):
            if name in seeded:
                case.path_parameters[name] = seeded[name]
    if positive and isinstance(case.body, dict):
        if use_seeded_ids:
            body = _substitute(case.body, seeded_body_values(world))
            overlay = body_overlays(world).get(case.operation.path, {})
            body = {**body, **overlay}
            case.body = {k: v for k, v in body.items() if not (k in overlay and overlay[k] is None)}
        case.body = {**case.body, **valid_value_overlays().get(case.operation.path, {})}
    # A case whose headers are the invalid part (e.g. no Authorization) is sent as generated.
    headers = None if _negated(case, ParameterLocation.HEADER) else world.auth(role)
    if CALLBACKS.match(case.operation.path):
        case.call_and_validate(headers=headers, checks=[not_a_server_error, record_status])
    else:
        case.call_and_validate(headers=headers, checks=POSITIVE_CHECKS)


# --- Hostile bodies on every operation (issue 19, items 1 and 2) -----------------------------

DEEP_BODY = ('{"a":' * 5_000 + "1" + "}" * 5_000).encode()  # far past API_JSON_MAX_DEPTH
HUGE_BODY = b'{"name": "' + b"x" * (2_621_440 + 1) + b'"}'  # past DATA_UPLOAD_MAX_MEMORY_SIZE
HOSTILE_BODIES = {"deep": (DEEP_BODY, {400: "parse_error"}), "huge": (HUGE_BODY, {413: "request_too_large"})}


def _operations() -> list:
    return [
        pytest.param(method, path, id=f"{method.upper()} {path}")
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


DESTRUCTIVE = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p, _ in DESTRUCTIVE_ENDPOINTS}


@pytest.mark.parametrize("kind", list(HOSTILE_BODIES))
@pytest.mark.parametrize(("method", "path"), _operations())
def test_hostile_bodies(world, method, path, kind):
    """Every operation, with a JSON body nested 5,000 deep or over 2.5 MB, as the caller it
    is meant for: a 4xx in the error shape, never a 5xx; an operation that reads a JSON body
    answers exactly ``400 parse_error`` or ``413 request_too_large`` (unless it refuses the
    caller or the object first). New operations are covered by being in the schema."""
    from rest_framework.test import APIClient

    role = "merchant_user" if path.startswith("/api/v1/merchant/") else "shopper"
    if path == "/api/v1/stores/{store_id}/selection" or "/dashboard" in path or "/members" in path:
        role = "owner"
    seeded = seeded_path_ids(world, role)
    url = re.sub(r"\{(\w+)\}", lambda m: str(seeded.get(m.group(1), 1)), path)
    client = APIClient()
    if not CALLBACKS.match(path):
        client.credentials(HTTP_AUTHORIZATION=world.auth(role)["Authorization"])
    body, expected = HOSTILE_BODIES[kind]
    operation = schema.raw_schema["paths"][path][method]
    reads_json = "application/json" in operation.get("requestBody", {}).get("content", {})

    response = client.generic(method.upper(), url, data=body, content_type="application/json")

    STATUSES[f"hostile {kind}: {method.upper()} {path}"][response.status_code] += 1
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) <= {"code", "message", "fields"}, error
        if response.status_code in expected:
            # A destructive call refuses any body but its confirmation word, an unreadable one
            # included, with its own code (shop/api/confirm.py).
            codes = {expected[response.status_code]}
            if (method.upper(), re.sub(r"\{[^}]+\}", "{}", path)) in DESTRUCTIVE:
                codes.add("confirmation_required")
            assert error["code"] in codes, error
    if reads_json:
        assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
        if response.status_code in (400, 413):
            assert response.status_code in expected or kind == "huge", error

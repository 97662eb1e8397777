"""The request itself as the attack (issue 19, items 1, 2 and 6): bodies nested too deep,
bodies too large, control characters in headers, a non-merchant's bad body. Every one is
answered in the error shape with a 4xx, never a 500, and writes nothing.

The same classes are fuzzed on every operation of the schema in tests/fuzz; here each is
pinned on the endpoints the attack run named, with its exact status and code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from groupstore.models import Store
from shop.api.parsers import json_depth_ok, json_loads_bounded
from shop.payments.models import Payment
from shop.testing.asserts import assert_error

pytestmark = pytest.mark.django_db

DEEP_OBJECT = '{"a":' * 1_000 + "1" + "}" * 1_000  # the attack run's 6 KB body
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000

# (caller, method, path): every kind of view that reads a JSON body — unauthenticated,
# a shopper's, a store owner's, a merchant's, a PATCH — named by the attack run.
JSON_BODY_CALLS = [
    (None, "post", "/api/v1/auth/wechat-login"),
    ("shopper", "post", "/api/v1/checkout/quote"),
    ("shopper", "post", "/api/v1/orders"),
    ("shopper", "post", "/api/v1/stores"),
    ("shopper", "post", "/api/v1/stores/join"),
    ("owner", "post", "/api/v1/webhooks"),
    ("merchant_user", "post", "/api/v1/merchant/products"),
    ("merchant_user", "patch", "/api/v1/merchant/products/{product_id}"),
    ("merchant_user", "post", "/api/v1/merchant/orders/{paid_order_id}/ship"),
]


def _call(client: APIClient, method: str, path: str, world, body: bytes | str, **extra):
    url = path.format(product_id=world.draft_product.pk, paid_order_id=world.paid_order.pk)
    return getattr(client, method)(url, data=body, content_type="application/json", **extra)


def _ids(calls):
    return [f"{method}:{path}" for _, method, path in calls]


# --- Item 1: nesting ---------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_OBJECT, DEEP_ARRAY], ids=["object-1000-deep", "array-100000-deep"])
@pytest.mark.parametrize(("caller", "method", "path"), JSON_BODY_CALLS, ids=_ids(JSON_BODY_CALLS))
def test_a_deeply_nested_body_is_a_400_parse_error(world, client_as, caller, method, path, body):
    stores = Store.objects.count()

    response = _call(client_as(caller), method, path, world, body)

    error = assert_error(response, 400, "parse_error")
    assert "nested deeper than 32" in error["message"]
    assert Store.objects.count() == stores


def test_nesting_up_to_the_limit_is_still_parsed(world, client_as):
    # 32 levels is parsed (and then refused by the serializer as the wrong shape, not as JSON).
    body = json.dumps({"name": "团", "group": json.loads("[" * 31 + "]" * 31)})

    response = _call(client_as("shopper"), "post", "/api/v1/stores", world, body)

    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize(
    ("text", "limit", "ok"),
    [
        ("{}", 1, True),
        ('{"a": [1, {"b": []}]}', 4, True),
        ('{"a": [1, {"b": []}]}', 3, False),
        ('{"a": "[[[[[[[[[[[[{{{{{{{{"}', 1, True),  # brackets inside strings do not count
        ('{"a": "\\"[[[["}', 1, True),  # nor after an escaped quote
        ('["unterminated', 5, False),
        ("[}", 5, False),
        ("", 1, True),
    ],
)
def test_json_depth_is_measured_outside_strings(text, limit, ok):
    assert json_depth_ok(text, limit) is ok


def test_measuring_depth_is_linear_even_on_hostile_text():
    # Escaped quotes that never close a string: a string pattern that may fail restarts at
    # every quote (quadratic); ours may not fail.
    hostile = '["' + '\\"' * 1_000_000
    started = time.perf_counter()

    assert json_depth_ok(hostile, 32) is False
    assert json_depth_ok("[]" * 1_000_000, 32) is True
    assert time.perf_counter() - started < 2.0


def test_json_loads_bounded_raises_a_value_error_not_recursion():
    with pytest.raises(ValueError, match="nested deeper"):
        json_loads_bounded(DEEP_OBJECT)


def _signed(body: bytes) -> str:
    return hmac.new(settings.SANDBOX_PAYMENT_SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("kind", ["payments", "payouts"])
def test_a_signed_deeply_nested_callback_is_a_4xx_and_pays_nothing(world, kind):
    # Callbacks read their bytes themselves (the signature covers them): the same limit.
    body = DEEP_OBJECT.encode()
    statuses = sorted(Payment.objects.values_list("pk", "status"))

    response = APIClient().post(
        f"/api/v1/{kind}/sandbox/notify",
        data=body,
        content_type="application/json",
        HTTP_X_SANDBOX_SIGNATURE=_signed(body),
    )

    assert 400 <= response.status_code < 500, response.content
    assert_error(response, response.status_code, "invalid_callback")
    assert sorted(Payment.objects.values_list("pk", "status")) == statuses


# --- Item 2: size --------------------------------------------------------------------------

OVER_LIMIT = 2_621_440 + 1


@pytest.mark.parametrize(("caller", "method", "path"), JSON_BODY_CALLS, ids=_ids(JSON_BODY_CALLS))
def test_a_body_over_the_upload_limit_is_a_413(world, client_as, caller, method, path):
    body = json.dumps({"name": "团" * OVER_LIMIT})  # 3 bytes a character in UTF-8
    stores = Store.objects.count()

    response = _call(client_as(caller), method, path, world, body)

    error = assert_error(response, 413, "request_too_large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in error["message"]
    assert Store.objects.count() == stores


@pytest.mark.parametrize("kind", ["payments", "payouts"])
def test_an_oversized_callback_is_a_413(world, kind):
    body = b'{"pad": "' + b"x" * OVER_LIMIT + b'"}'

    response = APIClient().post(
        f"/api/v1/{kind}/sandbox/notify",
        data=body,
        content_type="application/json",
        HTTP_X_SANDBOX_SIGNATURE=_signed(body),
    )

    assert_error(response, 413, "request_too_large")


def test_a_stock_upload_keeps_its_own_larger_limit(world, client_as, settings):
    # File parts of a multipart body do not count towards DATA_UPLOAD_MAX_MEMORY_SIZE: with
    # the limit lowered to 10 KB, a 40 KB file still goes through, a 20 KB JSON body does not.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    merchant = client_as("merchant_user")
    content = f"sku_code,stock\r\n{world.sku.code},5\r\n".encode() + b"\r\n" * 20_000

    uploaded = merchant.post(
        "/api/v1/merchant/stock-uploads",
        {"file": SimpleUploadedFile("stock.csv", content)},
        format="multipart",
    )
    too_big = merchant.post("/api/v1/merchant/products", {"title": "x" * 20_000}, format="json")

    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["applied"] == 1
    assert_error(too_big, 413, "request_too_large")


# --- Item 9 (parsers): JSON only, multipart only where a file is uploaded -------------------


def test_a_form_body_is_a_415(world, client_as):
    response = client_as("shopper").post("/api/v1/stores", {"name": "团"}, format="multipart")

    assert_error(response, 415, "unsupported_media_type")


def test_a_json_body_to_the_upload_is_a_415(world, client_as):
    response = client_as("merchant_user").post("/api/v1/merchant/stock-uploads", {"file": "x"}, format="json")

    assert_error(response, 415, "unsupported_media_type")

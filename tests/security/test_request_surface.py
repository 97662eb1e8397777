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
import re
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
        ('["unterminated', 0, False),  # with more openings than the limit, unbalanced is refused
        ("[}", 0, False),
        ("[}", 5, True),  # with fewer, the decoder refuses it (one count, no scan)
        ("", 1, True),
    ],
)
def test_json_depth_is_measured_outside_strings(text, limit, ok):
    assert json_depth_ok(text, limit) is ok


def test_measuring_depth_is_linear_even_on_hostile_text():
    # Escaped quotes that never close a string: a string pattern that may fail restarts at
    # every quote (quadratic); ours may not fail.
    hostile = "[" * 40 + '"' + '\\"' * 1_000_000
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


# --- Item 6: the permission is checked before the body ------------------------------------

OPEN_TO_NON_MERCHANTS = {"/api/v1/merchant/applications"}  # anyone may apply to become one
# Fails validation on every merchant endpoint, in the body and in the query string alike.
INVALID_BODY = {"amount_fen": "lots", "carrier": None, "title": ["x"], "status": "lost", "file": 1}
INVALID_QUERY = {"status": "lost", "page_size": "0", "ordering": "nonsense"}


def _merchant_operations() -> list:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    return [
        pytest.param(method, path, id=f"{method}:{path}")
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/merchant/") and path not in OPEN_TO_NON_MERCHANTS
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture(scope="module")
def merchant_operations(django_db_setup, django_db_blocker) -> list:
    with django_db_blocker.unblock():
        return _merchant_operations()


def test_every_merchant_operation_is_checked(merchant_operations):
    # The schema walk below covers new merchant endpoints on its own; this pins that it runs.
    assert len(merchant_operations) >= 20


@pytest.mark.parametrize("caller", ["shopper", "owner"])
def test_a_non_merchant_gets_403_whatever_the_body_on_every_merchant_operation(
    world, client_as, merchant_operations, caller
):
    client = client_as(caller)
    wrong = []
    for param in merchant_operations:
        method, path = param.values
        url = re.sub(r"\{[^}]+\}", str(world.paid_order.pk), path)
        if method == "get":
            response = client.get(url, INVALID_QUERY)
        else:
            response = getattr(client, method)(f"{url}?status=lost", INVALID_BODY, format="json")
        body = response.json()
        if response.status_code != 403 or body.get("error", {}).get("code") != "not_merchant_staff":
            wrong.append((method, path, response.status_code, body))

    assert not wrong, "\n".join(map(str, wrong))


def test_a_non_merchant_shipping_with_a_bad_body_gets_403_not_400(world, client_as):
    response = client_as("shopper").post(
        f"/api/v1/merchant/orders/{world.paid_order.pk}/ship", {"carrier": ""}, format="json"
    )

    assert_error(response, 403, "not_merchant_staff")


def test_staff_with_a_bad_body_still_get_the_validation_error(world, client_as):
    response = client_as("merchant_user").post(
        f"/api/v1/merchant/orders/{world.paid_order.pk}/ship", {"carrier": ""}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert {"carrier", "tracking_no"} <= set(error["fields"])


def test_no_token_on_a_merchant_operation_is_still_a_401(world):
    response = APIClient().post(f"/api/v1/merchant/orders/{world.paid_order.pk}/ship", {}, format="json")

    assert_error(response, 401, "not_authenticated")


# --- Item 6: control characters in headers --------------------------------------------------

CONTROL_HEADERS = [
    ("HTTP_AUTHORIZATION", "Bearer \x00"),
    ("HTTP_AUTHORIZATION", "Bearer abc\x1bdef"),
    ("HTTP_IDEMPOTENCY_KEY", "key\x00"),  # was a 500: PostgreSQL text cannot hold NUL
    ("HTTP_USER_AGENT", "curl\x7f"),
    ("HTTP_X_REQUEST_ID", "\x0a"),
]


@pytest.mark.parametrize(("header", "value"), CONTROL_HEADERS, ids=[f"{h}-{v!r}" for h, v in CONTROL_HEADERS])
def test_a_control_character_in_a_header_is_a_400_in_the_error_shape(world, client_as, header, value):
    client = client_as(None if header == "HTTP_AUTHORIZATION" else "shopper")
    stores = Store.objects.count()

    response = client.post("/api/v1/stores", {"name": "团"}, format="json", **{header: value})

    error = assert_error(response, 400, "bad_header")
    assert "control character" in error["message"]
    assert response["X-Request-ID"]
    assert Store.objects.count() == stores


def test_a_tab_in_a_header_is_allowed(world, client_as):
    response = client_as("shopper").get("/api/v1/stores", HTTP_USER_AGENT="mini\tprogram")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "raw", [b"Bearer \x00", b"Bearer a\x00b", b"Bearer " + b"A" * 10_000, b"Bearer ../../x"]
)
def test_token_authentication_refuses_a_malformed_token_without_a_query(raw, django_assert_num_queries):
    # Behind a server that passed a control character on, the authentication itself holds.
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from accounts.authentication import BearerTokenAuthentication

    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=raw.decode("latin-1")))

    with django_assert_num_queries(0), pytest.raises(AuthenticationFailed, match="Malformed token"):
        BearerTokenAuthentication().authenticate(request)


# --- Item 6: errors before Django ------------------------------------------------------------


def test_gunicorn_limits_are_set_and_the_documented_proxy_refuses_first():
    # Gunicorn answers these limits with HTML (docs/deploy.md, "The proxy in front"): the
    # proxy configuration there must refuse first, with its own JSON pages.
    import runpy

    conf = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    deploy = (settings.BASE_DIR / "docs" / "deploy.md").read_text()
    proxy_buffer_kb = int(re.search(r"large_client_header_buffers \d+ (\d+)k;", deploy).group(1))

    assert conf["limit_request_line"] == 8190
    assert conf["limit_request_fields"] == 100
    assert conf["limit_request_field_size"] == 8190
    assert conf["header_map"] == "drop"
    assert proxy_buffer_kb * 1024 < min(conf["limit_request_line"], conf["limit_request_field_size"])
    for status in ("400", "413", "414", "494 =431"):
        assert f"error_page {status} @" in deploy

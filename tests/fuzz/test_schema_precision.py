"""The schema is precise enough for fuzzing to mean something (issue 7).

- Every operation declares its error answers with the shared ``Error`` component.
- Every request body and every 2xx answer names its fields: no free-form object except
  the few that are free-form by design (listed here, with why). A new endpoint with a
  ``DictField`` or an undocumented answer fails here until it says what it returns.
"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# (path regex, JSON path in the body): free-form on purpose.
FREE_FORM = [
    (r".*", r"(\.results\[\])?\.data$"),  # a notification's payload: depends on its kind
    (r".*", r".*\.spec$"),  # a SKU's spec values: {"颜色": "红", "尺码": "L"}, names chosen by the merchant
    (r".*", r".*\.params\{\*\}$"),  # a payment's client parameters: the gateway's own shape
    (r"^/api/v1/(merchant/)?orders.*", r".*\.after_sales\[\]\{\*\}$"),  # orders/: to be typed by its owners
    (r"^/api/v1/teams/.*", r".*\.members\[\]\{\*\}$"),  # orders/: to be typed by its owners
    # The facts an assistant's answer was built from: one shape per intent (docs/assistant.md).
    (r"^/api/v1/merchant/conversations$", r".*\.messages\[\]\.data\{\*\}$"),
    # A person's data export (PIPL): one section per app that holds their data, each app's own
    # shape (accounts/privacy.py); a download for the person, not an interface to program against.
    (r"^/api/v1/me/export$", r"\{\*\}$"),
]
ERROR_STATUSES_EVERYWHERE = {"400", "404", "429", "500"}


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", {"format": "json"}).json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _loose(schema: dict, node: dict, where: str = "", depth: int = 0) -> list[str]:
    components = schema["components"]["schemas"]
    if "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[-1]]
    if depth > 8:
        return []
    found = []
    if not node or (
        node.get("type") == "object" and not node.get("properties") and "additionalProperties" not in node
    ):
        found.append(where or "<body>")
    for name, sub in (node.get("properties") or {}).items():
        found += _loose(schema, sub, f"{where}.{name}", depth + 1)
    if node.get("type") == "array" and "items" in node:
        found += _loose(schema, node["items"], f"{where}[]", depth + 1)
    if isinstance(node.get("additionalProperties"), dict):
        found += _loose(schema, node["additionalProperties"], f"{where}{{*}}", depth + 1)
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(key, []):
            found += _loose(schema, sub, where, depth + 1)
    return found


def _allowed(path: str, where: str) -> bool:
    return any(re.match(p, path) and re.match(w, where) for p, w in FREE_FORM)


def test_the_error_component_is_the_documented_shape(schema):
    error = schema["components"]["schemas"]["Error"]

    assert error["required"] == ["error"]
    inner = error["properties"]["error"]
    assert inner["required"] == ["code", "message"]
    assert set(inner["properties"]) == {"code", "message", "fields"}
    assert inner["additionalProperties"] is False


def test_every_operation_declares_its_errors_with_the_error_component(schema):
    for path, method, operation in _operations(schema):
        declared = operation["responses"]
        assert set(declared) >= ERROR_STATUSES_EVERYWHERE, (method, path)
        for status in ERROR_STATUSES_EVERYWHERE:
            body = declared[status].get("content", {}).get("application/json", {}).get("schema", {})
            assert body == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        if operation.get("security"):
            assert {"401", "403"} <= set(declared), (method, path)
        if method in {"post", "put", "patch", "delete"}:
            assert {"409", "413", "415", "422"} <= set(declared), (method, path)


def test_every_success_answer_and_request_body_names_its_fields(schema):
    loose = []
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            if "content" not in response:
                assert status == "204", f"{method.upper()} {path} {status} documents no body"
                continue
            for media in response["content"].values():
                loose += [(method, path, status, w) for w in _loose(schema, media.get("schema", {}))]
        for media in operation.get("requestBody", {}).get("content", {}).values():
            loose += [(method, path, "request", w) for w in _loose(schema, media.get("schema", {}))]
    loose = [entry for entry in loose if not _allowed(entry[1], entry[3])]

    assert not loose, (
        "free-form objects in the schema (type them, or list them in FREE_FORM with why):\n"
        + "\n".join(f"  {m.upper()} {p} {s}: {w}" for m, p, s, w in loose)
    )


# --- The schema states the rules the code enforces (issue 19, item 9) --------------------------


def _component(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _body(schema: dict, path: str, method: str = "post", media: str = "application/json") -> dict:
    return _component(schema, schema["paths"][path][method]["requestBody"]["content"][media]["schema"])


def test_bodies_are_json_and_only_the_upload_is_multipart(schema):
    media = {
        (method, path): set(operation.get("requestBody", {}).get("content", {}))
        for path, method, operation in _operations(schema)
        if "requestBody" in operation
    }

    assert media.pop(("post", "/api/v1/merchant/stock-uploads")) == {"multipart/form-data"}
    assert media
    assert all(types == {"application/json"} for types in media.values()), media


def test_a_withdrawal_states_its_minimum_and_the_days_limit(schema, settings):
    amount = _body(schema, "/api/v1/wallet/withdrawals")["properties"]["amount_fen"]

    assert amount["minimum"] == settings.SHOP_RULES["WITHDRAWAL_MIN_FEN"] == 100
    assert amount["maximum"] == settings.SHOP_RULES["WITHDRAWAL_DAILY_LIMIT_FEN"]


def test_lists_state_their_length_and_texts_their_non_blankness(schema):
    quote = _body(schema, "/api/v1/checkout/quote")
    application = _body(schema, "/api/v1/merchant/applications")
    ship = _body(schema, "/api/v1/merchant/orders/{order_id}/ship")

    assert (quote["properties"]["items"]["minItems"], quote["properties"]["items"]["maxItems"]) == (1, 50)
    assert application["properties"]["category_ids"]["minItems"] == 1
    assert ship["properties"]["carrier"]["pattern"]  # "   " is blank, refused
    assert ship["properties"]["tracking_no"]["pattern"] == "^[A-Za-z0-9-]{4,64}$"  # its own pattern kept


def test_a_team_is_one_of_open_or_join(schema):
    team = _body(schema, "/api/v1/checkout/quote")["properties"]["team"]

    assert [branch["required"] for branch in team["oneOf"]] == [["open"], ["join"]]


def test_page_and_page_size_state_their_bounds(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/orders"]["get"]["parameters"]}

    assert parameters["page"]["minimum"] == 1
    assert (parameters["page_size"]["minimum"], parameters["page_size"]["maximum"]) == (1, 100)
    assert parameters["status"]["minLength"] == 1


def test_login_declares_503_when_wechat_cannot_check_the_code(schema):
    responses = schema["paths"]["/api/v1/auth/wechat-login"]["post"]["responses"]

    assert "503" in responses
    assert responses["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_urls_state_the_pattern_they_are_checked_against(schema):
    from shop.api.serializers import HTTP_URL_PATTERN, HTTPS_URL_PATTERN

    webhook = _body(schema, "/api/v1/webhooks")["properties"]["url"]
    avatar = _body(schema, "/api/v1/auth/wechat-login")["properties"]["avatar_url"]["oneOf"][0]

    def ecma(pattern: str) -> str:  # drf-spectacular writes \xHH as \u00HH
        return re.sub(r"\\x([0-9a-f]{2})", r"\\u00\1", pattern)

    assert webhook["pattern"] == ecma(HTTPS_URL_PATTERN)
    assert avatar["pattern"] == ecma(HTTP_URL_PATTERN)
    assert "format" not in webhook
    assert "format" not in avatar


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://thirdwx.qlogo.cn/mmopen/vi_32/Q0j4TwGTfTK/132", True),
        ("http://cdn.example.com:8080/商品.jpg?x=1#top", True),
        ("https://example.com", True),
        ("ftp://example.com/a", False),
        ("https://10.0.0.1/a", False),
        ("https://localhost/a", False),
        ("https://exa mple.com/", False),
        ("https://example.com/a b", False),
    ],
)
def test_the_url_pattern_and_djangos_validator_agree_where_the_pattern_accepts(url, ok):
    import re as regex

    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    from shop.api.serializers import HTTP_URL_PATTERN

    assert bool(regex.search(HTTP_URL_PATTERN, url)) is ok
    if ok:  # everything the schema's pattern admits, Django's own check admits too
        try:
            URLValidator()(url)
        except ValidationError:
            pytest.fail(f"URLValidator refuses {url}")

"""OpenAPI generation tuned to the house style (``GET /api/schema/``, docs/api.md).

- Every view nests its own ``InputSerializer`` (docs/design.md); by class name alone they
  would all become one ``InputRequest`` component and the schema would document the
  login body for every endpoint. Nested serializers are named after their view instead
  (``StoreJoinApi.InputSerializer`` → ``StoreJoinApiInputRequest``).
- The house serializer bases (``shop.api.serializers``) are plumbing: their docstrings are
  not a schema's description (``lib_doc_excludes``), as DRF's own are not.
- ``Authorization: Bearer <token>`` is declared as an HTTP bearer scheme. The target is
  named by string so that ``shop`` does not import ``accounts``.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import is_list_serializer
from rest_framework import serializers

# A string that is not all whitespace: what DRF's ``CharField`` (``trim_whitespace``, no
# ``allow_blank``) accepts, which ``minLength: 1`` alone does not say. Python's ``strip()``
# also removes U+001C-U+001F and U+0085, which ECMA's ``\s`` does not count; ECMA counts
# U+FEFF, which ``strip()`` keeps.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]|\ufeff"


def lib_doc_excludes() -> list:
    """drf-spectacular's classes whose docstrings never describe a schema, and the house bases."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    from shop.api import serializers

    return [
        *get_lib_doc_excludes(),
        serializers.FieldsBuiltOnceMixin,
        serializers.StrictJsonTypesMixin,
        serializers.Serializer,
        serializers.QuerySerializer,
        serializers.ModelSerializer,
    ]


class AutoSchema(SpectacularAutoSchema):
    def _get_request_body(self, direction="request"):
        """drf-spectacular documents bodies for PUT, PATCH and POST only; a DELETE that needs
        its ``{"confirm": …}`` body (``shop/api/confirm.py``) says so too, as required."""
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        self.method = "POST"  # the body mapping is the same for any method that has one
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """drf-spectacular's mapping, plus the rules DRF enforces that it leaves out (issue 19,
        item 9: the schema states every rule the code enforces): a list's ``allow_empty``,
        ``min_length`` and ``max_length`` of a nested ``many=True`` serializer, a ``ListField``
        or a ``many=True`` related field; a required text being more than whitespace; a URL's
        exact pattern."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if not isinstance(schema, dict) or direction != "request":
            return schema
        if is_list_serializer(field) or isinstance(
            field, (serializers.ListField, serializers.ManyRelatedField)
        ):
            minimum = getattr(field, "min_length", None) or 0
            if not getattr(field, "allow_empty", True):
                minimum = max(minimum, 1)
            if minimum:
                schema["minItems"] = max(schema.get("minItems", 0), minimum)
            if getattr(field, "max_length", None) is not None:
                schema["maxItems"] = min(schema.get("maxItems", field.max_length), field.max_length)
        return schema

    def _map_basic_serializer(self, serializer, direction):
        # Which way the fields being mapped go: the request-only rules below need to know.
        self._directions = [*getattr(self, "_directions", []), direction]
        try:
            schema = super()._map_basic_serializer(serializer, direction)
        finally:
            self._directions.pop()
        # A body that needs exactly one of some fields (its ``validate`` says so) states it:
        # ``one_of_required = ("address", "delivery")`` → ``oneOf`` of each one required.
        alternatives = getattr(serializer, "one_of_required", ())
        if alternatives and direction == "request":
            schema["oneOf"] = [{"required": [name]} for name in alternatives]
        return schema

    def _insert_field_validators(self, field, schema):
        """After drf-spectacular has stated a field's validators (``pattern`` of a
        ``RegexValidator``, ``format: uri`` of a ``URLValidator``): a required text is more
        than whitespace, and a URL's pattern (``shop.api.serializers.http_url``) replaces the
        looser ``format: uri``."""
        super()._insert_field_validators(field, schema)
        if getattr(self, "_directions", ["request"])[-1:] != ["request"]:
            return
        if (
            isinstance(field, serializers.CharField)
            and not field.allow_blank
            and field.trim_whitespace
            and schema.get("type") == "string"
            and not {"pattern", "enum", "format"} & set(schema)
        ):
            schema["pattern"] = NOT_BLANK
        for branch in [schema, *schema.get("oneOf", [])]:  # allow_blank: oneOf [the text, ""]
            if branch.get("format") == "uri" and "pattern" in branch:
                del branch["format"]

    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and "<locals>" not in outer:
            return outer.replace(".", "") + inner
        return super().get_serializer_name(serializer, direction)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "BearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token from POST /api/v1/auth/wechat-login: `Authorization: Bearer <token>`.",
        }


# --- Error responses ------------------------------------------------------------------
# Every error answers ``{"error": {"code", "message", "fields"?}}`` (docs/api.md); the schema says
# so once, as the ``Error`` component, and every operation declares the statuses it can
# answer with it. Which statuses, by what the operation is:
ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx/5xx answer (docs/api.md). `fields` only for validation errors.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "example": "not_found"},
                "message": {"type": "string", "example": "Not found."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "example": {"items.0.qty": ["Ensure this value is greater than or equal to 1."]},
                },
            },
            "required": ["code", "message"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}
ERRORS_EVERYWHERE = {
    "400": "Invalid input (`validation_error` with `fields`; `parse_error`: not JSON, or nested "
    "deeper than 32; `bad_header`: a control character in a header), or a request the rules refuse.",
    "404": "No such object, or someone else's (never told apart), or no such URL.",
    "429": "Throttled: too many requests of this kind; see `Retry-After`.",
    "500": "`internal_error`: a bug on our side, logged with the request id.",
}
ERRORS_WHEN_AUTHENTICATED = {
    "401": "No token, or a bad, expired or revoked one.",
    "403": "Visible to you but not yours to act on (e.g. not the store's owner, not merchant staff).",
}
ERRORS_WHEN_WRITING = {
    "409": "An illegal state change, or a concurrent duplicate still in progress.",
    "413": "`request_too_large`: the body is over the size limit (2.5 MB; an upload's file, 20 MB).",
    "415": "The body is not in a media type this operation accepts (JSON; multipart for an upload).",
    "422": "The request cannot be processed (e.g. an Idempotency-Key reused with another body).",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _error_statuses(method: str, operation: dict, default_security: list) -> dict[str, str]:
    statuses = dict(ERRORS_EVERYWHERE)
    security = operation.get("security", default_security)
    if security:  # an operation with no authentication classes cannot answer 401/403
        statuses.update(ERRORS_WHEN_AUTHENTICATED)
    if method in WRITE_METHODS:
        statuses.update(ERRORS_WHEN_WRITING)
    return statuses


def postprocess_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the shared ``Error`` component on every operation.

    Statuses a view documents itself keep their description (e.g. a callback's ``401 Bad
    signature``); every error answer gets the error shape as its body, so a fuzzer can
    hold every 4xx to it.
    """
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    default_security = result.get("security", [])
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in _error_statuses(method, operation, default_security).items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                # An error a view documents by its description alone still has the error shape.
                if status[0] in "45" and "content" not in response:
                    response["content"] = {"application/json": {"schema": ref}}
    return result

"""OpenAPI generation tuned to the house style (``GET /api/schema/``, API.md).

- Every view nests its own ``InputSerializer`` (STYLE.md); by class name alone they
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


def lib_doc_excludes() -> list:
    """drf-spectacular's classes whose docstrings never describe a schema, and the house bases."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    from shop.api import serializers

    return [
        *get_lib_doc_excludes(),
        serializers.FieldsBuiltOnceMixin,
        serializers.Serializer,
        serializers.ModelSerializer,
    ]


class AutoSchema(SpectacularAutoSchema):
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
# Every error answers ``{"error": {"code", "message", "fields"?}}`` (API.md); the schema says
# so once, as the ``Error`` component, and every operation declares the statuses it can
# answer with it. Which statuses, by what the operation is:
ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx/5xx answer (API.md). `fields` only for validation errors.",
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
    "400": "Invalid input (`validation_error` with `fields`), or a request the rules refuse.",
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
    "415": "The body is not in a media type this operation accepts.",
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

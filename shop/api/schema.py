"""OpenAPI generation tuned to the house style (``GET /api/schema/``, API.md).

- Every view nests its own ``InputSerializer`` (STYLE.md); by class name alone they
  would all become one ``InputRequest`` component and the schema would document the
  login body for every endpoint. Nested serializers are named after their view instead
  (``StoreJoinApi.InputSerializer`` → ``StoreJoinApiInputRequest``).
- ``Authorization: Bearer <token>`` is declared as an HTTP bearer scheme. The target is
  named by string so that ``shop`` does not import ``accounts``.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


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

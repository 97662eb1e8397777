"""Destructive calls say so in their body: ``{"confirm": "<word>"}`` (issue 19, item 5).

A call that ends something for good (a merchant leaving, an account erased, a person
removed from a merchant's staff) must never run on a body nobody meant for it: a retried
request with a mangled body, a form post, a proxy's rewrite. Each such view calls
``require_confirmation`` after it has found the caller's object (so someone else's object
is still a 404 and a forbidden one a 403) and before it changes anything. Anything but a
JSON object whose ``confirm`` is exactly the word is a 400 ``confirmation_required``
(an unparseable body included), and nothing is done.

Every destructive endpoint and its word is listed in ``DESTRUCTIVE_ENDPOINTS``; a test
checks that each of them refuses a body without it.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request

from shop.errors import ConfirmationRequired

# (method, path as in the URLconf, the word its body must confirm with)
DESTRUCTIVE_ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("POST", "/api/v1/merchant/exit", "exit"),
    ("DELETE", "/api/v1/merchant/staff/{id}", "remove"),
    ("DELETE", "/api/v1/merchant/staff/me", "leave"),
    ("DELETE", "/api/v1/me", "delete"),
    ("POST", "/api/v1/after-sales/{id}/withdraw", "withdraw"),
    ("DELETE", "/api/v1/webhooks/{id}", "delete"),
    ("DELETE", "/api/v1/leaders/me/pickup-point", "close"),
)


def confirmation_help(word: str) -> str:
    return f'Send {{"confirm": "{word}"}} as the JSON body to confirm; this cannot be undone.'


def confirmation_schema(word: str, *, name: str):
    """The request body for the OpenAPI schema: ``{"confirm": "<word>"}``, required."""
    return inline_serializer(
        name,
        {"confirm": serializers.ChoiceField(choices=[word], help_text=confirmation_help(word))},
    )


def require_confirmation(request: Request, *, word: str) -> None:
    """Raise ``ConfirmationRequired`` (400) unless the body is ``{"confirm": word, ...}``."""
    try:
        data = request.data
    except (ParseError, UnsupportedMediaType, RecursionError) as exc:
        raise ConfirmationRequired(
            f"The body could not be read as JSON. {confirmation_help(word)}",
            fields={"confirm": [confirmation_help(word)]},
        ) from exc
    value = data.get("confirm") if hasattr(data, "get") else None
    if value != word:
        raise ConfirmationRequired(
            confirmation_help(word), fields={"confirm": [f'Must be exactly "{word}".']}
        )

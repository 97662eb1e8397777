"""Control characters in request headers: a 400 in the error shape (issue 19, item 6).

HTTP field values may not hold control characters other than a tab (RFC 9110, 5.5).
Gunicorn refuses a NUL itself (an HTML 400, see docs/deploy.md), but another server or a
proxy in front may pass one on, and a value with a NUL reaching PostgreSQL (an
``Idempotency-Key``, a ``User-Agent`` stored with a token) is a ``ValueError`` there: a
500. One check, before any view or middleware reads a header value, answers it instead.
"""

from __future__ import annotations

import re

from django.http import JsonResponse

from .exception_handler import error_body

# C0 controls except HTAB, and DEL. Bytes 0x80-0xFF (obs-text, latin-1 in WSGI) stay allowed.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def bad_header_name(meta: dict) -> str | None:
    """The first request header (as ``Header-Name``) whose value holds a control character."""
    for key, value in meta.items():
        if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) and _CONTROL.search(
            str(value)
        ):
            name = key[5:] if key.startswith("HTTP_") else key
            return name.replace("_", "-").title()
    return None


class HeaderControlCharsMiddleware:
    """Refuses a request with a control character in any header value: ``400 bad_header``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = bad_header_name(request.META)
        if name is not None:
            return JsonResponse(
                error_body("bad_header", f"The {name} header holds a control character."), status=400
            )
        return self.get_response(request)

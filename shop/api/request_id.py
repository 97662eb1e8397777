"""A request id for every request: taken from ``X-Request-ID`` or made, echoed back, logged.

The id stays set until Django has finished the request (``request_finished``), so the
lines Django itself logs after the middleware chain (``django.request``) carry it too.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.core.signals import request_finished

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id() -> str:
    return _request_id.get()


def request_id_set(value: str) -> None:
    _request_id.set(value)


def _request_done(**kwargs) -> None:
    _request_id.set("-")


request_finished.connect(_request_done, dispatch_uid="shop-request-id-done")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE.match(incoming) else uuid.uuid4().hex
        _request_id.set(rid)  # cleared on request_finished, after Django's own log lines
        request.request_id = rid
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class RequestIdLogFilter(logging.Filter):
    """Kept for logging configs that name it; the record factory (``logging.py``) stamps too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True

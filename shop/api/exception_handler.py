"""Renders every API error as ``{"error": {"code", "message", "fields"?}}`` (docs/api.md)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from shop.errors import ApplicationError

from .request_id import current_request_id

logger = logging.getLogger("shop.api")


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten_fields(detail) -> dict[str, list[str]]:
    """DRF's nested error detail → ``{"field": ["problem", ...]}`` with dotted paths."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, sub in enumerate(value):
                if sub:
                    walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            items = value if isinstance(value, list) else [value]
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in items)

    walk("", detail)
    return out


def too_large_body() -> dict:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body("request_too_large", f"The request body is larger than {limit} bytes.")


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Raised when a view first reads a body over DATA_UPLOAD_MAX_MEMORY_SIZE (request.data).
        set_rollback()
        return Response(too_large_body(), status=413)
    if isinstance(exc, SuspiciousOperation):
        # Django's own refusals of a request (too many form fields or files, …): bad input.
        set_rollback()
        return Response(error_body("bad_request", "Bad request."), status=400)
    if isinstance(exc, ApplicationError):
        set_rollback()
        retry_after = getattr(exc, "retry_after_s", None)  # ServiceUnavailable
        headers = {"Retry-After": str(int(retry_after))} if retry_after else None
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=exc.http_status, headers=headers
        )
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("validation_error", "Some fields are invalid.", fields), status=400)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    if isinstance(exc, drf_exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, drf_exceptions.ValidationError):
            body = error_body("validation_error", "Some fields are invalid.", _flatten_fields(exc.detail))
        else:
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
            message = str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)
            body = error_body(code, message)
        return Response(body, status=exc.status_code, headers=headers)

    # Anything else is a bug: log it with the request id and answer the documented shape.
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    set_rollback()
    return Response(
        error_body("internal_error", f"Something went wrong on our side (request {current_request_id()})."),
        status=500,
    )


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", "No such URL."), status=404)


def json_500(request):
    return JsonResponse(
        error_body("internal_error", f"Something went wrong on our side (request {current_request_id()})."),
        status=500,
    )


def json_400(request, exception=None):
    # Django answers every SuspiciousOperation raised outside a DRF view (e.g. a middleware
    # reading an oversized body) with handler400; the oversized body keeps its own status.
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(too_large_body(), status=413)
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def json_403(request, exception=None):
    return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)

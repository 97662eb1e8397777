"""The one hierarchy of domain errors. Services raise these; the API renders them.

No DRF imports here: services stay usable from tasks, admin and commands.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refusal the caller can understand. ``code`` is stable; ``message`` is for humans."""

    code = "application_error"
    http_status = 400
    default_message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, fields: dict[str, list[str]] | None = None, **context: Any
    ):
        self.message = message or self.default_message
        self.fields = fields
        self.context = context
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    code = "validation_error"
    http_status = 400
    default_message = "Some fields are invalid."


class ConfirmationRequired(ValidationFailed):
    """A destructive call without its explicit ``{"confirm": "<word>"}`` (shop/api/confirm.py)."""

    code = "confirmation_required"
    default_message = "This cannot be undone: confirm it explicitly."


class NotFound(ApplicationError):
    """Missing, or someone else's (we never tell which)."""

    code = "not_found"
    http_status = 404
    default_message = "Not found."


class Gone(ApplicationError):
    code = "gone"
    http_status = 410
    default_message = "This is no longer available."


class PermissionDenied(ApplicationError):
    """Visible to the caller, but not theirs to act on."""

    code = "permission_denied"
    http_status = 403
    default_message = "You may not do this."


class Conflict(ApplicationError):
    """An illegal state change, or a race that was lost."""

    code = "conflict"
    http_status = 409
    default_message = "This cannot be done in the current state."


class ServiceUnavailable(ApplicationError):
    """Something we depend on (the cache, the database, WeChat) is down: nothing was done, and the
    client may send the same request again (with the same ``Idempotency-Key``) after
    ``retry_after_s`` seconds, which the API sends as ``Retry-After``."""

    code = "service_unavailable"
    http_status = 503
    default_message = "The service is briefly unavailable; nothing was done. Try again shortly."
    retry_after_s = 30

    def __init__(self, message: str | None = None, *, retry_after_s: int | None = None, **context: Any):
        super().__init__(message, **context)
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class Unprocessable(ApplicationError):
    code = "unprocessable"
    http_status = 422
    default_message = "The request cannot be processed."

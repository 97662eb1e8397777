"""Reading a console form: the API's own input serializers check it (no rule written twice),
and a service's refusal comes back as the form's errors.

A form page shows ``errors`` as ``{field: [message, ...]}``; ``"__all__"`` holds the errors
that belong to no one field (a service's refusal such as ``deposit_short``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404

from shop.errors import ApplicationError, NotFound

NON_FIELD = "__all__"


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = NON_FIELD if key == "non_field_errors" else f"{prefix}{key}"
            for field, messages in _flatten(value, f"{name}.").items():
                out.setdefault(field.rstrip("."), []).extend(messages)
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return {prefix.rstrip(".") or NON_FIELD: [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            for field, messages in _flatten(item, f"{prefix}{index}.").items():
                out.setdefault(field, []).extend(messages)
        return out
    return {prefix.rstrip(".") or NON_FIELD: [str(detail)]}


def validated(serializer_class, data: dict, **kwargs) -> tuple[dict | None, dict[str, list[str]]]:
    """``(validated data, {})`` or ``(None, errors)`` by the given DRF serializer."""
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return serializer.validated_data, {}
    return None, _flatten(serializer.errors)


def refusal(exc: ApplicationError) -> tuple[dict[str, list[str]], int]:
    """A service's refusal as form errors, with the status the page answers (403 for a role
    the service refuses, 409 for a state conflict, 404 for a missing object, else 400)."""
    errors = {NON_FIELD: [exc.message]}
    for field, messages in (exc.fields or {}).items():
        errors.setdefault(field, []).extend(messages)
    status = exc.http_status if exc.http_status in (403, 404, 409) else 400
    return errors, status


def found(selector: Callable[..., Any], **kwargs) -> Any:
    """Run a ``*_get_for_merchant`` selector; its ``NotFound`` (missing, or another merchant's)
    becomes Django's 404 page."""
    try:
        return selector(**kwargs)
    except NotFound:
        raise Http404 from None

"""Reading a console form: the API's own input serializers check it (no rule written twice),
and a service's refusal comes back as the form's errors.

A form page shows ``errors`` as ``{field: [message, ...]}``; ``"__all__"`` holds the errors
that belong to no one field (a service's refusal such as ``deposit_short``). Either way the
page answers a 4xx and nothing was written (a service refuses before, or rolls back, any
write) — never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, QueryDict

from shop.errors import ApplicationError, NotFound, PermissionDenied

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


def validated(
    serializer_class, data: dict, *, as_form: bool = False, **kwargs
) -> tuple[dict | None, dict[str, list[str]]]:
    """``(validated data, {})`` or ``(None, errors)`` by the given DRF serializer. With
    ``as_form``, ``data`` (what a form posted, all text) is read as DRF reads a form body (a
    ``QueryDict``: ``"3"`` is an integer, an empty optional field is absent), not as JSON."""
    if as_form:
        form = QueryDict(mutable=True)
        form.update(data)
        data = form
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return serializer.validated_data, {}
    return None, _flatten(serializer.errors)


def refusal(exc: ApplicationError) -> tuple[dict[str, list[str]], int]:
    """A service's refusal as form errors — by field when it names fields, else its message —
    with its own 4xx (403 for a role the service refuses, 409 for a state conflict, …)."""
    errors: dict[str, list[str]] = {}
    for field, messages in (exc.fields or {}).items():
        errors.setdefault(field, []).extend(messages)
    if not errors:
        errors[NON_FIELD] = [exc.message]
    status = exc.http_status if 400 <= exc.http_status < 500 else 400
    return errors, status


def found(selector: Callable[..., Any], **kwargs) -> Any:
    """Run a ``*_get_for_merchant`` selector; missing or another merchant's is the 404 page, a
    role the selector refuses (merchants/roles.py) the 403 page."""
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc

"""A form page's errors, whether from the API's input serializer or a service's refusal.

The console validates a form with the same DRF input serializer as the API (so the messages
are the API's) and calls the same service; either way the page is shown again with
``errors`` as ``{field: [message, ...]}`` (``"__all__"`` for errors of no one field) and a
4xx status — never a 500, and the service wrote nothing (its refusals are raised before, or
roll back, any write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, QueryDict

from shop.errors import ApplicationError, NotFound, PermissionDenied

NON_FIELD = "__all__"


def serializer_errors(serializer_class, data: dict[str, str]) -> tuple[dict | None, dict[str, list[str]]]:
    """``(validated_data, {})``, or ``(None, {field: [messages]})``. ``data`` is what the form
    posted (text), read as DRF reads a form (a ``QueryDict``: ``"3"`` is an integer, an empty
    optional field is absent), not as a JSON body."""
    form = QueryDict(mutable=True)
    form.update(data)
    serializer = serializer_class(data=form)
    if serializer.is_valid():
        return serializer.validated_data, {}
    errors: dict[str, list[str]] = {}
    for field, messages in serializer.errors.items():
        name = NON_FIELD if field == "non_field_errors" else field
        errors.setdefault(name, []).extend(str(m) for m in messages)
    return None, errors


def refusal_errors(exc: ApplicationError) -> tuple[dict[str, list[str]], int]:
    """A service's refusal as form errors and the status to answer with (its own 4xx)."""
    errors: dict[str, list[str]] = {}
    if exc.fields:
        for field, messages in exc.fields.items():
            errors.setdefault(field, []).extend(messages)
    else:
        errors[NON_FIELD] = [exc.message]
    status = exc.http_status if 400 <= exc.http_status < 500 else 400
    return errors, status


def get_or_404(selector: Callable[..., Any], **kwargs) -> Any:
    """Run a ``*_get_for_merchant`` selector; missing or another merchant's is a 404 page, a
    role the selector refuses (merchants/roles.py) the 403 page."""
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc

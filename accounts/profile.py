"""What ``GET /me`` says about a user, contributed by the apps that know it.

``accounts`` sits low in the stack and cannot import ``merchants`` or ``groupstore``;
they register their fields here in ``AppConfig.ready()`` (``merchant_id``, ``is_leader``).
Each field is an SQL expression over the user's row (``OuterRef("pk")``: a subquery or an
``EXISTS``), so ``/me`` reads all of them in one query however many apps contribute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Expression

from shop.registry import Registry

from .models import User

ME_FIELDS: Registry[Callable[[], Expression]] = Registry("/me field")


def register_me_field(*, name: str, expression: Callable[[], Expression]) -> None:
    """``expression()`` builds the field's value for the user ``OuterRef("pk")`` names."""
    ME_FIELDS.register(name, expression)


def me_fields(user) -> dict[str, Any]:
    fields = {name: build() for name, build in ME_FIELDS.items()}
    return User.objects.filter(pk=user.pk).values(**fields).first() or dict.fromkeys(fields)

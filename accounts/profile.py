"""What ``GET /me`` says about a user, contributed by the apps that know it.

``accounts`` sits low in the stack and cannot import ``merchants`` or ``groupstore``;
they register their fields here in ``AppConfig.ready()`` (``merchant_id``, ``is_leader``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shop.registry import Registry

ME_FIELDS: Registry[Callable[[Any], Any]] = Registry("/me field")


def register_me_field(*, name: str, compute: Callable[[Any], Any]) -> None:
    ME_FIELDS.register(name, compute)


def me_fields(user) -> dict[str, Any]:
    return {name: compute(user) for name, compute in ME_FIELDS.items()}

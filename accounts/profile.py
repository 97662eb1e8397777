"""What ``GET /me`` says about a user, contributed by the apps that know it.

``accounts`` sits low in the stack and cannot import ``merchants`` or ``groupstore``;
they register their fields here in ``AppConfig.ready()`` (``merchant_id``, ``is_leader``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {}


def register_me_field(*, name: str, compute: Callable[[Any], Any], default: Any = None) -> None:
    _FIELDS[name] = (compute, default)


def me_fields(user) -> dict[str, Any]:
    return {name: compute(user) for name, (compute, _default) in _FIELDS.items()}


def me_field_names() -> list[str]:
    return list(_FIELDS)

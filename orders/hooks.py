"""What happens above ``orders`` when an order changes: filled by ``rebates`` in ``ready()``.

Handlers run inside the transaction that made the change, so accruals and the order
move together or not at all. Explicit and in one place, unlike model signals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Order

OrderHandler = Callable[["Order"], None]

_HANDLERS: dict[str, list[OrderHandler]] = {"paid": [], "completed": []}


def register(*, event: str, handler: OrderHandler) -> None:
    if event not in _HANDLERS:
        raise ValueError(f"unknown order event {event!r}")
    if handler not in _HANDLERS[event]:
        _HANDLERS[event].append(handler)


def fire(*, event: str, order: Order) -> None:
    for handler in _HANDLERS[event]:
        handler(order)

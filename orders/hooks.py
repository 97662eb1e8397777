"""What happens above ``orders`` when an order changes: filled by ``rebates`` in ``ready()``.

Handlers run inside the transaction that made the change, so accruals and the order
move together or not at all. Explicit and in one place, unlike model signals.

- ``paid``: ``handler(order)`` — the order's money is with us (accrue commission).
- ``completed``: ``handler(order)`` — the after-sales window closed (settle).
- ``refunded``: ``handler(order, item_refunds={order_item_id: fen}, key=...)`` — money of
  these items went back to the buyer (cancel or claw back their commission in
  proportion); ``key`` is the refund's idempotency key, unique per refund.

One question goes the same way: ``order_is_settled(order)`` — has settlement (in
``rebates``) run for this order? A refund after settlement charges the merchant's
payable instead of its receivable. ``rebates`` answers it from its own settlement row,
so settling an order writes nothing to the order row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shop.registry import Registry

if TYPE_CHECKING:
    from .models import Order

OrderHandler = Callable[..., None]

EVENTS: dict[str, Registry[OrderHandler]] = {
    event: Registry(f"order {event} handler") for event in ("paid", "completed", "refunded")
}
SETTLED_CHECKS: Registry[Callable[[Order], bool]] = Registry("order settled check")


def register(*, event: str, name: str, handler: OrderHandler) -> None:
    """Call ``handler`` on ``event`` (in registration order), under ``name`` (e.g. ``rebates.accrue``)."""
    if event not in EVENTS:
        raise ValueError(f"unknown order event {event!r}")
    EVENTS[event].register(name, handler)


def fire(*, event: str, order: Order, **details: Any) -> None:
    for handler in EVENTS[event].values():
        handler(order, **details)


def register_settled_check(*, name: str, check: Callable[[Order], bool]) -> None:
    SETTLED_CHECKS.register(name, check)


def order_is_settled(order: Order) -> bool:
    """Whether this order's money has been settled. Ask with the order row locked: settlement
    locks it too, so the answer cannot change before the asker's transaction ends."""
    return any(check(order) for check in SETTLED_CHECKS.values())

"""The order state machine's one writer.

Every change of an order's ``status`` — by checkout's payment handler, the lifecycle
services, a team's success or a refund — goes through ``order_move``: it checks the move
against ``Order.TRANSITIONS``, saves the status with the fields the caller changed beside
it, and writes the event row. The caller holds the order row locked
(``orders.locks.order_qs_for_update``) and decides *whether* to move; this module only
says whether the move is legal and records it.

It is the bottom of ``orders.services``: it imports nothing from its siblings, so every
writer can use it without an import cycle (the import-linter contract in
``pyproject.toml`` keeps it that way).
"""

from __future__ import annotations

from orders.errors import IllegalOrderTransition
from orders.models import Order, OrderEvent


def order_move(
    order: Order,
    to: str,
    *,
    actor=None,
    note: str = "",
    fields: tuple[str, ...] = (),
) -> None:
    """Move ``order`` to status ``to``, saving ``fields`` with it, and record the event.

    Raises ``IllegalOrderTransition`` (409) for a move ``Order.TRANSITIONS`` does not
    allow, writing nothing. Every status but ``pending_payment`` (where an order starts)
    has an event kind of the same name."""
    if not order.can_move_to(to):
        raise IllegalOrderTransition(
            f"Order {order.pk} is {order.get_status_display().lower()}; it cannot become {to}.",
            order_id=order.pk,
        )
    order.status = to
    order.save(update_fields=["status", *fields, "updated_at"])
    order_event_record(order, kind=to, actor=actor, note=note)


def order_event_record(order: Order, *, kind: str, actor=None, note: str = "") -> OrderEvent:
    """One row of the order's trail (a status change, an invoice, a partial refund …)."""
    return OrderEvent.objects.create(order=order, kind=kind, actor=actor, note=note[:255])

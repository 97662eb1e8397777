"""Who is told when a payment succeeds, or a refund ends. Filled by the upper apps in
``AppConfig.ready()``.

``orders`` registers ``order_checkout``; ``merchants`` registers ``merchant_deposit``.
The handler runs inside the transaction that marks the payment paid, so the order
(or deposit) and the payment change together or not at all. Refund handlers likewise
run inside the transaction that makes the refund final (succeeded or failed); a failed
refund that ops send again may later succeed, so ``on_failed`` may be followed by
``on_succeeded`` (never the reverse).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Payment, Refund

PaymentHandler = Callable[["Payment"], None]
RefundHandler = Callable[["Refund"], None]

_ON_SUCCEEDED: dict[str, PaymentHandler] = {}


def register_purpose(*, purpose: str, on_succeeded: PaymentHandler) -> None:
    if purpose in _ON_SUCCEEDED and _ON_SUCCEEDED[purpose] is not on_succeeded:
        raise RuntimeError(f"payment purpose {purpose!r} is registered twice")
    _ON_SUCCEEDED[purpose] = on_succeeded


def handler_for(purpose: str) -> PaymentHandler:
    try:
        return _ON_SUCCEEDED[purpose]
    except KeyError:
        raise RuntimeError(f"no handler registered for payment purpose {purpose!r}") from None


@dataclass(frozen=True, slots=True)
class RefundHandlers:
    on_succeeded: RefundHandler | None = None
    on_failed: RefundHandler | None = None


_REFUND_PURPOSES: dict[str, RefundHandlers] = {}


def register_refund_purpose(
    *, purpose: str, on_succeeded: RefundHandler | None = None, on_failed: RefundHandler | None = None
) -> None:
    """Say who is told when a refund of ``purpose`` ends. Registering the same handlers
    again is a no-op; different ones for a taken purpose is a start-up error."""
    handlers = RefundHandlers(on_succeeded=on_succeeded, on_failed=on_failed)
    if purpose in _REFUND_PURPOSES and _REFUND_PURPOSES[purpose] != handlers:
        raise RuntimeError(f"refund purpose {purpose!r} is registered twice")
    _REFUND_PURPOSES[purpose] = handlers


def refund_handlers_for(purpose: str) -> RefundHandlers:
    """A purpose nobody registered has no handlers: its refunds still run, nobody is told."""
    return _REFUND_PURPOSES.get(purpose, RefundHandlers())

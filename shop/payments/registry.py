"""Who is told when a payment succeeds, or a refund ends. Filled by the upper apps in
``AppConfig.ready()``.

``orders`` registers ``order_checkout``; ``merchants`` registers ``merchant_deposit``.
The handler runs inside the transaction that marks the payment paid, so the order
(or deposit) and the payment change together or not at all. Refund handlers likewise
run inside the transaction that makes the refund final (succeeded or failed); a failed
refund that ops send again may later succeed, so ``on_failed`` may be followed by
``on_succeeded`` (never the reverse) — unless the purpose registered with
``failed_money_returned=True``: its ``on_failed`` takes the money of a refused or closed
refund out of refund clearing, back where it came from (``merchants`` puts a failed
deposit refund back into the deposit). Such refunds are final: never sent again, out of
ops' refund queue; the purpose starts a new one. An abnormal refund's money has left
through the gateway, so it stays in refund clearing, in the queue, for ops at the gateway.
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
    failed_money_returned: bool = False


_REFUND_PURPOSES: dict[str, RefundHandlers] = {}


def register_refund_purpose(
    *,
    purpose: str,
    on_succeeded: RefundHandler | None = None,
    on_failed: RefundHandler | None = None,
    failed_money_returned: bool = False,
) -> None:
    """Say who is told when a refund of ``purpose`` ends. Registering the same handlers
    again is a no-op; different ones for a taken purpose is a start-up error.

    ``failed_money_returned=True`` promises that ``on_failed`` (required then) posts a
    refused or closed refund's whole amount out of refund clearing, in the transaction that
    fails it; the purpose's failed refunds are then never resent (``refund_resend`` refuses
    them) and only the abnormal ones stay in ops' refund queue."""
    if failed_money_returned and on_failed is None:
        raise RuntimeError(f"refund purpose {purpose!r} returns failed money but has no on_failed")
    handlers = RefundHandlers(
        on_succeeded=on_succeeded, on_failed=on_failed, failed_money_returned=failed_money_returned
    )
    if purpose in _REFUND_PURPOSES and _REFUND_PURPOSES[purpose] != handlers:
        raise RuntimeError(f"refund purpose {purpose!r} is registered twice")
    _REFUND_PURPOSES[purpose] = handlers


def refund_handlers_for(purpose: str) -> RefundHandlers:
    """A purpose nobody registered has no handlers: its refunds still run, nobody is told."""
    return _REFUND_PURPOSES.get(purpose, RefundHandlers())


def refund_purposes_returning_failed_money() -> list[str]:
    """Purposes whose refused or closed refunds no longer hold money in refund clearing."""
    return sorted(purpose for purpose, h in _REFUND_PURPOSES.items() if h.failed_money_returned)

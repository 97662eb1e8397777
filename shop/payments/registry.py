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

from shop.registry import Registry

if TYPE_CHECKING:
    from .models import Payment, Refund

PaymentHandler = Callable[["Payment"], None]
RefundHandler = Callable[["Refund"], None]

PAYMENT_PURPOSES: Registry[PaymentHandler] = Registry("payment purpose")


def register_purpose(*, purpose: str, on_succeeded: PaymentHandler) -> None:
    PAYMENT_PURPOSES.register(purpose, on_succeeded)


def handler_for(purpose: str) -> PaymentHandler:
    return PAYMENT_PURPOSES.get(purpose)


@dataclass(frozen=True, slots=True)
class RefundHandlers:
    on_succeeded: RefundHandler | None = None
    on_failed: RefundHandler | None = None
    failed_money_returned: bool = False


REFUND_PURPOSES: Registry[RefundHandlers] = Registry("refund purpose")


def register_refund_purpose(
    *,
    purpose: str,
    on_succeeded: RefundHandler | None = None,
    on_failed: RefundHandler | None = None,
    failed_money_returned: bool = False,
) -> None:
    """Say who is told when a refund of ``purpose`` ends (a taken purpose is a start-up error).

    ``failed_money_returned=True`` promises that ``on_failed`` (required then) posts a
    refused or closed refund's whole amount out of refund clearing, in the transaction that
    fails it; the purpose's failed refunds are then never resent (``refund_resend`` refuses
    them) and only the abnormal ones stay in ops' refund queue."""
    REFUND_PURPOSES.register(
        purpose,
        refund_handlers(
            on_succeeded=on_succeeded, on_failed=on_failed, failed_money_returned=failed_money_returned
        ),
    )


def refund_handlers(
    *,
    on_succeeded: RefundHandler | None = None,
    on_failed: RefundHandler | None = None,
    failed_money_returned: bool = False,
) -> RefundHandlers:
    """The handlers of a refund purpose, checked (tests pass them to ``REFUND_PURPOSES.override``)."""
    if failed_money_returned and on_failed is None:
        raise RuntimeError("a refund purpose that returns failed money needs an on_failed")
    return RefundHandlers(
        on_succeeded=on_succeeded, on_failed=on_failed, failed_money_returned=failed_money_returned
    )


def refund_handlers_for(purpose: str) -> RefundHandlers:
    """A purpose nobody registered has no handlers: its refunds still run, nobody is told."""
    return REFUND_PURPOSES.find(purpose, RefundHandlers())


def refund_purposes_returning_failed_money() -> list[str]:
    """Purposes whose refused or closed refunds no longer hold money in refund clearing."""
    return sorted(purpose for purpose, h in REFUND_PURPOSES.items() if h.failed_money_returned)

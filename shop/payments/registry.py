"""Who is told when a payment succeeds. Filled by the upper apps in ``AppConfig.ready()``.

``orders`` registers ``order_checkout``; ``merchants`` registers ``merchant_deposit``.
The handler runs inside the transaction that marks the payment paid, so the order
(or deposit) and the payment change together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Payment

PaymentHandler = Callable[["Payment"], None]

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

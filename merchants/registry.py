"""What blocks a merchant's deposit, counted by the apps above (filled in ``AppConfig.ready``).

``orders`` owns after-sales records and disputes, and sits above ``merchants``, so it
registers counters here instead of being imported:

- ``register_open_dispute_counter(name=, count=)``: disputes (after-sales cases under ops
  arbitration) of a merchant. While any is open the deposit is frozen: it cannot be
  refunded (ops can still deduct from it; that is usually how a dispute ends).
- ``register_open_after_sales_counter(name=, count=)``: after-sales cases still open, and orders
  whose after-sales window has not closed. The deposit of a leaving merchant is
  refunded only when this is zero.

Each ``count(merchant_id) -> int``. With nothing registered both count zero.
"""

from __future__ import annotations

from collections.abc import Callable

from shop.registry import Registry

Counter = Callable[[int], int]

OPEN_DISPUTE_COUNTERS: Registry[Counter] = Registry("open-dispute counter")
OPEN_AFTER_SALES_COUNTERS: Registry[Counter] = Registry("open after-sales counter")


def register_open_dispute_counter(*, name: str, count: Counter) -> None:
    OPEN_DISPUTE_COUNTERS.register(name, count)


def register_open_after_sales_counter(*, name: str, count: Counter) -> None:
    OPEN_AFTER_SALES_COUNTERS.register(name, count)


def open_dispute_count(merchant_id: int) -> int:
    return sum(count(merchant_id) for count in OPEN_DISPUTE_COUNTERS.values())


def open_after_sales_count(merchant_id: int) -> int:
    return sum(count(merchant_id) for count in OPEN_AFTER_SALES_COUNTERS.values())

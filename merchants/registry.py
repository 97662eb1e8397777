"""What blocks a merchant's deposit, counted by the apps above (filled in ``AppConfig.ready``).

``orders`` owns after-sales records and disputes, and sits above ``merchants``, so it
registers counters here instead of being imported:

- ``register_open_dispute_counter(fn)``: disputes (after-sales cases under ops
  arbitration) of a merchant. While any is open the deposit is frozen: it cannot be
  refunded (ops can still deduct from it; that is usually how a dispute ends).
- ``register_open_after_sales_counter(fn)``: after-sales cases still open, and orders
  whose after-sales window has not closed. The deposit of a leaving merchant is
  refunded only when this is zero.

Each ``fn(merchant_id) -> int``. With nothing registered both count zero.
"""

from __future__ import annotations

from collections.abc import Callable

Counter = Callable[[int], int]

_OPEN_DISPUTES: list[Counter] = []
_OPEN_AFTER_SALES: list[Counter] = []


def register_open_dispute_counter(fn: Counter) -> None:
    if fn not in _OPEN_DISPUTES:
        _OPEN_DISPUTES.append(fn)


def register_open_after_sales_counter(fn: Counter) -> None:
    if fn not in _OPEN_AFTER_SALES:
        _OPEN_AFTER_SALES.append(fn)


def open_dispute_count(merchant_id: int) -> int:
    return sum(fn(merchant_id) for fn in _OPEN_DISPUTES)


def open_after_sales_count(merchant_id: int) -> int:
    return sum(fn(merchant_id) for fn in _OPEN_AFTER_SALES)


def unregister_all_for_tests() -> tuple[list[Counter], list[Counter]]:
    """Empty both registries; returns what was there so a test can put it back."""
    saved = (list(_OPEN_DISPUTES), list(_OPEN_AFTER_SALES))
    _OPEN_DISPUTES.clear()
    _OPEN_AFTER_SALES.clear()
    return saved


def restore_for_tests(saved: tuple[list[Counter], list[Counter]]) -> None:
    _OPEN_DISPUTES[:] = saved[0]
    _OPEN_AFTER_SALES[:] = saved[1]

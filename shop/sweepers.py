"""The registry of periodic jobs (docs/design.md "Asynchronous work").

Apps register their sweepers here in ``AppConfig.ready()``; beat runs them all every
minute through ``sweepers_run_task`` and ops (and tests that travel in time) run
them with ``manage.py run_sweepers [--now ...]``. A sweeper re-derives due work from
the database, so it is safe to run at any time and any number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shop.registry import Registry

logger = logging.getLogger("shop.sweepers")

Sweeper = Callable[[datetime], int]


@dataclass(frozen=True)
class _Entry:
    name: str
    description: str
    run: Sweeper
    order: int


SWEEPERS: Registry[_Entry] = Registry("sweeper")


def register(*, name: str, description: str, run: Sweeper, order: int = 100) -> None:
    """Register a sweeper; ``order`` sorts them (timeouts before completions before settlement)."""
    SWEEPERS.register(name, _Entry(name=name, description=description, run=run, order=order))


def registered() -> list[_Entry]:
    return sorted(SWEEPERS.values(), key=lambda e: (e.order, e.name))


def run_all(*, now: datetime, on_result: Callable[[str, str, int], None] | None = None) -> dict[str, int]:
    """Run every sweeper once as of ``now``; a failing one is logged and the rest still run."""
    results: dict[str, int] = {}
    for entry in registered():
        try:
            count = entry.run(now)
        except Exception:
            logger.exception("sweeper %s failed", entry.name)
            count = -1
        results[entry.name] = count
        if on_result:
            on_result(entry.name, entry.description, count)
    return results

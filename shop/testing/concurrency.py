"""Run callables truly in parallel against the database (Oscar's ``run_concurrently``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_concurrently(fn: Callable[[int], Any], *, times: int, timeout: float = 60.0) -> list[Any]:
    """Call ``fn(i)`` for i in 0..times-1, each in its own thread with its own database
    connection, all released at once by a barrier. Returns results (or the exceptions
    raised) in index order. Use with ``@pytest.mark.django_db(transaction=True)``.
    """
    barrier = threading.Barrier(times)
    results: list[Any] = [None] * times

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = fn(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results

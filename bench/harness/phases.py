"""Measured phases and the minimal buy every bench compares itself with (``bench.harness``).

A phase is measured on a settled database (``settle_database``) and ends once the server has
answered what it left queued (``Server.drain``); it reports CPU per request by part and the
load it ran under. The minimal buy (``POST /bench/buy`` of ``bench/reference_app``, under
``shop.settings.bench``) is the write path's ceiling: a phase measured between two of them is
given as a ratio to their mean (``ratio_to_mean``), so that the machine's drift over a run
moves both sides of the ratio alike.
"""

from __future__ import annotations

from collections.abc import Callable

from .measure import cpu_by_process, cpu_per_request, loadavg, wrk
from .processes import settle_database
from .server import Server

BUY = {"script": "buy", "path": "/bench/buy"}
HELLO = {"script": "get", "path": "/bench/hello"}


def measured_phase(server: Server, run: Callable[[], dict]) -> dict:
    """``run()``'s result (it must hold ``requests`` and ``client_cpu_seconds``) measured on a
    settled database, plus ``cpu_ms_per_request`` by part (server, PostgreSQL, Redis, client)
    and ``load`` at its end; the server has answered everything queued when this returns."""
    settle_database()
    before = cpu_by_process(server.pid)
    result = run()
    server.drain()
    result["cpu_ms_per_request"] = cpu_per_request(before, cpu_by_process(server.pid), result)
    result["load"] = loadavg()
    return result


def minimal_buy(server: Server, *, connections: int, seconds: int, timeout: int = 10) -> dict:
    """The minimal buy, measured (``measured_phase``) with wrk: a random bench item of 10,000 per
    request (``bench.setup.minimal_buy:seed_items`` made them)."""
    return measured_phase(
        server,
        lambda: wrk(
            server.port, **BUY, connections=connections, seconds=seconds, timeout=timeout, client_cpu=True
        ),
    )


def ratio_to_mean(value: float, *references: float) -> float:
    """``value`` over the mean of ``references`` (the buys measured around it), two decimals."""
    return round(value / (sum(references) / len(references)), 2)

"""The flash crowd's client of ``bench/orders_http.py``: every buyer sends one ``POST /api/v1/orders``
on a connection of its own, ``connections`` at a time, on an asyncio loop (uvloop when installed),
so that the count is exact and the load generator's own CPU stays near wrk's."""

from __future__ import annotations

import asyncio
import re
import time


class _Buyer(asyncio.Protocol):
    """One buyer's one request on its own connection: write it, read the answer, close.

    The connection is closed as soon as the whole answer is in (its ``Content-Length``), as
    wrk does, not when the server's FIN arrives: gunicorn (27+) lingers on a closed
    connection until the peer closes too, so a client that waits for the FIN before closing
    holds a sync worker for a round trip through its own event loop on every request."""

    def __init__(self, request: bytes, answered: asyncio.Future) -> None:
        self.request, self.answered, self.data, self.size = request, answered, b"", None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.size is None and b"\r\n\r\n" in self.data:
            head = self.data.split(b"\r\n\r\n", 1)[0]
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            self.size = len(head) + 4 + int(length.group(1)) if length else -1
        if self.size is not None and 0 <= self.size <= len(self.data):
            self.transport.close()
            self._answer()

    def connection_lost(self, exc) -> None:
        self._answer()

    def _answer(self) -> None:
        if not self.answered.done():
            self.answered.set_result(self.data)


async def _crowd(port: int, requests: list[bytes], connections: int) -> tuple[list, float]:
    """``connections`` concurrent clients; each takes the next buyer, sends its one
    ``POST /orders`` on a new connection (sync gunicorn closes after each answer) and
    reads the answer to the end. Every buyer exactly once; per-request latency (connect
    included). Protocol callbacks, not streams, and uvloop when installed: the load
    generator shares the two cores, so its cost per request should stay near wrk's."""
    loop = asyncio.get_running_loop()
    pending = iter(requests)
    results: list[tuple[int, str, float, float]] = []  # status, code, latency, answered at

    async def client() -> None:
        for request in pending:
            started = time.perf_counter()
            try:
                answered = loop.create_future()
                await loop.create_connection(lambda r=request, a=answered: _Buyer(r, a), "127.0.0.1", port)
                data = await answered
                status = int(data[9:12])
                match = re.search(rb'"code":"(\w+)"', data) if status >= 400 else None
                code = match.group(1).decode() if match else ""
            except (OSError, ValueError):
                status, code = -1, "socket_error"
            results.append((status, code, time.perf_counter() - started, time.perf_counter() - begun))

    begun = time.perf_counter()
    # One timeout for the whole crowd, not a timer per request (the client's own CPU counts).
    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(connections))), timeout=600)
    return results, time.perf_counter() - begun


def _request_bytes(port: int, token: str, body: str) -> bytes:
    payload = body.encode()
    return (
        f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload


def crowd(port: int, jobs: list[tuple[str, str]], connections: int) -> dict:
    requests = [_request_bytes(port, token, body) for token, body in jobs]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # the plain asyncio loop: slower, the figures say how much
        runner = asyncio.run
    cpu = time.process_time()
    results, seconds = runner(_crowd(port, requests, connections))
    cpu = time.process_time() - cpu  # the load generator's own share of the two cores
    latencies = sorted(ms for _, _, ms, _ in results)
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    for status, code, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if code:
            codes[code] = codes.get(code, 0) + 1

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2)

    return {
        "requests": len(results),
        "seconds": round(seconds, 3),
        "rps": round(len(results) / seconds, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
        "socket_errors": statuses.get("-1", 0),
        "client_cpu_seconds": round(cpu, 2),
        # when the last order was taken, after the start (the rest is sold-out answers)
        "last_201_at_s": round(max((at for status, _, _, at in results if status == 201), default=0), 3),
        "statuses": statuses,
        "error_codes": codes,
    }

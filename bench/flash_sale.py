"""A flash sale of one SKU through the HTTP API under gunicorn (issue 5).

    .venv/bin/python bench/flash_sale.py --database bench_flash --stock 1000 --buyers 5000 \\
        --connections 256 --tries 2 --drop

1. Creates and migrates a bench database; makes one store with ``--buyers`` members
   (bulk), one SKU with ``--stock`` on hand, a flash offer of ``--stock`` units at one
   per buyer, and flash prices unlocked for every store; issues a token per buyer.
2. Starts gunicorn as in production (sync workers 2×cores+1, persistent database
   connections, ``DEBUG=0``, worker recycling off), ``SANDBOX=1`` so payments are
   the sandbox's (no network), with the Redis gate on (``--no-gate``: database only).
3. ``--connections`` client threads, spread over ``--processes`` processes, send
   ``POST /orders`` for every buyer ``--tries`` times in a shuffled order (a crowd
   that retries), as fast as answers come.
4. Prints attempts, answers by status code, orders created, requests/s, p50/p99
   latency, and checks in SQL: orders, units sold, final stock, nobody with two.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import (  # noqa: E402  # noqa: E402
    REDIS,
    database_create,
    database_drop,
    django_env,
    emit,
    in_django,
    migrate,
    start_gunicorn,
)


def _client_process(port: int, jobs: list[tuple[str, str]], threads: int, out_q) -> None:
    lock = threading.Lock()
    results: list[tuple[int, float]] = []
    it = iter(jobs)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                break
            token, body = job
            started = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/api/v1/orders",
                    body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                results.append((status, elapsed))
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out_q.put(results)


def load(port: int, jobs: list[tuple[str, str]], *, connections: int, processes: int) -> tuple[list, float]:
    per = [jobs[i::processes] for i in range(processes)]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_client_process, args=(port, part, max(1, connections // processes), queue)
        )
        for part in per
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [row for _ in procs for row in queue.get()]
    for proc in procs:
        proc.join()
    return results, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_flash")
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--tries", type=int, default=1, help="attempts per buyer")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8793)
    parser.add_argument("--no-gate", action="store_true", help="database path only (no Redis gate)")
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()

    extra = {
        "SANDBOX": "1",
        "SANDBOX_IN_PRODUCTION_I_MEAN_IT": "1",
        "FLASH_UNLOCK_THRESHOLD_FEN": "0",
        "FLASH_GATE": "0" if args.no_gate else "1",
    }
    database_create(args.database)
    try:
        env = django_env(args.database, debug=True, REDIS_URL=REDIS, **extra)
        migrate(env)
        setup = in_django(env, "bench.setup.flash_sale:prepare", buyers=args.buyers, stock=args.stock)
        body = json.dumps(
            {
                "store_id": setup["store_id"],
                "items": [{"sku_id": setup["sku_id"], "qty": 1}],
                "address": {
                    "name": "张三",
                    "phone": "13800138000",
                    "region": "上海市",
                    "detail": "世纪大道100号",
                },
            }
        )
        jobs = [(token, body) for token in setup["tokens"] for _ in range(args.tries)]
        random.Random(5).shuffle(jobs)
        server = start_gunicorn(django_env(args.database, REDIS_URL=REDIS, **extra), args.port, args.workers)
        try:
            results, seconds = load(args.port, jobs, connections=args.connections, processes=args.processes)
        finally:
            server.stop()
        latencies = sorted(ms for _, ms in results)
        by_status: dict[str, int] = {}
        for status, _ in results:
            by_status[str(status)] = by_status.get(str(status), 0) + 1
        ids = {"sku_id": setup["sku_id"], "offer_id": setup["offer_id"]}
        db = in_django(env, "bench.setup.flash_sale:check", **ids)
        report = {
            "stock": args.stock,
            "buyers": args.buyers,
            "attempts": len(results),
            "connections": args.connections,
            "gunicorn_workers": args.workers,
            "gate": not args.no_gate,
            "by_status": by_status,
            "seconds": round(seconds, 2),
            "rps": round(len(results) / seconds, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "db": db,
        }
        emit(report)
        if os.environ.get("BENCH_KEEP"):
            return 0
        db = report["db"]
        ok = (
            db["orders"] == min(args.stock, args.buyers)
            and db["buyers_with_two_orders"] == 0
            and db["available"] >= 0
        )
        print("OK: no oversell, exactly the cap sold, nobody with two" if ok else "FAILED invariants")
        return 0 if ok else 1
    finally:
        if args.drop:
            database_drop(args.database)


if __name__ == "__main__":
    sys.exit(main())

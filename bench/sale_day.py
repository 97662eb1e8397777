"""A whole sale day under load beside the minimal buy, in one run, then the books (issue 7; issue 18 step 9).

    flock /tmp/bench.lock /work/main/.venv/bin/python bench/sale_day.py --minutes 4

1. Creates a PostgreSQL database of its own and migrates it under ``shop.settings.bench``
   (production settings plus ``bench/reference_app``; ``--run-syncdb`` makes the minimal buy's
   two tables), runs ``seed_demo`` and ``prepare`` of ``bench/setup/saleday_data.py``: a second
   merchant, 60 more SKUs with team prices, ``--stores`` group stores, ``--shoppers`` shoppers
   with tokens (bulk), a flash offer, and "yesterday"'s completed orders (wallets filled, red
   envelopes funded); then 10,000 bench items for the minimal buy
   (``bench/setup/minimal_buy.py``).
2. Starts gunicorn as in production (sync ×5, persistent connections, ``DEBUG=0``,
   ``SANDBOX`` on through ``SANDBOX_IN_PRODUCTION_I_MEAN_IT=1``), two Celery workers
   and beat on Redis, on a queue of its own (and a Redis database, ``--redis-db``), every
   process under ``shop.settings.bench``. Warms up (not measured): every worker loads jieba
   and its caches, and ``--buy-warmup`` seconds of the minimal buy.
3. ``buy_before``: the minimal buy (``POST /bench/buy``, wrk, ``--buy-connections`` = the day's
   shopper threads unless given, ``--buy-seconds``), measured as every phase of
   ``bench.harness.measured_phase`` is: on a settled database (checkpoint, no autovacuum
   running), until the server has answered everything, with CPU per request by part.
4. ``day``: the crowd of ``bench/saleday_load.py`` for ``--minutes`` (at most
   ``--max-requests``), measured the same way: browse and search, join by share link, quote and
   order (normal, two merchants, team, flash), pay, cancel, ship, confirm receipt, after-sales
   and decisions, red envelopes, withdrawals, owners' dashboards, new logins.
5. Waits until the Celery queue is empty (the day's follow-ups), then ``buy_after``: the
   minimal buy again, as in 3. The day's requests/s is given as a ratio to the mean of the two
   buys around it (the machine's drift over the run moves both sides alike), its p50/p99
   beside the buys' p99, with the load average sampled every 10 s.
6. Closes the day: merchants ship what is paid and decide open after-sales, beat
   stops, and ``run_sweepers --now`` travels through time-outs, team expiry, auto-receipt,
   completion, settlement and envelope expiry, waiting for the queue after each step.
7. Checks the books (``bench/setup/saleday_checks.py``) and the minimal buy's rows, prints
   the ratio, requests/s, p50/p99 and errors by endpoint with the load average, then stops
   every process it started and drops the database (``--keep`` keeps it). Exit status 1 if a
   check failed, any answer of the day was a 5xx, or a minimal buy was not a 2xx.

Needs ``wrk`` (``apt-get install wrk``). CPU per request counts gunicorn (the server's
process group), PostgreSQL, Redis and the client; not the Celery workers.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.saleday_load import close_the_day, run_day, summarize, warm_up  # noqa: E402
from shop.queues import all_queues  # noqa: E402

TRAVEL = [timedelta(hours=1), timedelta(hours=25), timedelta(days=11), timedelta(days=19), timedelta(days=21)]


def queue_depth(redis_client, queue: str) -> int:
    """Messages waiting in the run's queues (every workload's, every priority) or unacked."""
    from shop.api.metrics import queue_length
    from shop.queues import all_queues

    return sum(queue_length(redis_client, q) for q in all_queues(queue)) + redis_client.hlen("unacked")


def drain_queue(redis_client, queue: str, timeout: float = 180) -> float:
    """Wait until the queue is empty and nothing is unacked (twice in a row); seconds waited."""
    started, calm = time.monotonic(), 0
    while time.monotonic() - started < timeout:
        calm = calm + 1 if queue_depth(redis_client, queue) == 0 else 0
        if calm >= 3:
            break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def sample_load(stop_event: threading.Event, samples: list) -> None:
    while not stop_event.wait(10):
        samples.append(round(os.getloadavg()[0], 2))


def measure_day(server: harness.Server, setup: dict, args: argparse.Namespace, secret: str) -> dict:
    """The crowd as a measured phase: ``summarize``'s figures, the client's CPU (this process's
    threads) and, by ``measured_phase``, CPU per request by part."""

    def day() -> dict:
        before = os.times()
        rec, seconds = run_day(
            setup, port=server.port, users=args.users, seconds=args.minutes * 60,
            max_requests=args.max_requests, secret=secret, seed=args.seed,
        )  # fmt: skip
        after = os.times()
        figures = summarize(rec, seconds)
        figures["client_cpu_seconds"] = round(after.user - before.user + after.system - before.system, 2)
        return figures

    return harness.measured_phase(server, day)


def beside_the_buy(report: dict) -> dict:
    """The day next to the minimal buys around it: the ratio of requests/s, the p99s, the load."""
    day, before, after = report["day"], report["buy_before"], report["buy_after"]
    return {
        "day_rps": day["rps"],
        "buy_rps": [before["rps"], after["rps"]],
        "ratio_to_minimal_buy": harness.ratio_to_mean(day["rps"], before["rps"], after["rps"]),
        "day_p50_ms": day["p50_ms"],
        "day_p99_ms": day["p99_ms"],
        "buy_p99_ms": [before["p99_ms"], after["p99_ms"]],
        "cpu_ms_per_request": {
            "day": day["cpu_ms_per_request"],
            "buy": [before["cpu_ms_per_request"], after["cpu_ms_per_request"]],
        },
        "load": {
            "buy_before": before["load"],
            "day_1min_samples": report["load_1min_samples"],
            "buy_after": after["load"],
        },
    }


def minimal_buy_held(report: dict) -> bool:
    """Every minimal buy answered 2xx, no socket error, no bench item below zero."""
    buys = (report["buy_before"], report["buy_after"])
    return (
        all(b["non_2xx"] == 0 and b["socket_errors"] == 0 and b["requests"] > 0 for b in buys)
        and report["minimal_buy_rows"]["bench_items_negative"] == 0
    )


def main() -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--users", type=int, default=16, help="concurrent shopper threads")
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--newcomers", type=int, default=120, help="at most this many new logins")
    parser.add_argument("--max-requests", type=int, default=300_000)
    parser.add_argument("--database", default=f"bench_saleday_{os.getpid()}")
    parser.add_argument("--redis-db", type=int, default=9)
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--buy-connections", type=int, help="wrk connections of the minimal buy (default: --users)"
    )
    parser.add_argument("--buy-seconds", type=int, default=20, help="each minimal buy, before and after")
    parser.add_argument("--buy-warmup", type=int, default=3, help="warm-up seconds, not measured")
    parser.add_argument("--report", help="also write the full report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the database (and print its name)")
    args = parser.parse_args()
    if not 0 < args.minutes <= 30:
        parser.error("--minutes must be within (0, 30]")
    args.buy_connections = args.buy_connections or args.users
    if args.buy_connections < 1 or args.buy_seconds < 1 or args.buy_warmup < 0:
        parser.error("--buy-connections and --buy-seconds must be at least 1, --buy-warmup at least 0")

    import redis

    queue = f"saleday-{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="saleday-"))
    (tmp / "var" / "static").mkdir(parents=True)
    secret = secrets.token_hex(16)
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    rds = redis.Redis.from_url(redis_url)
    redis_was_empty = rds.dbsize() == 0
    extra = {
        "REDIS_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SHOP_VAR_DIR": str(tmp / "var"),
        "SANDBOX": "1",
        "SANDBOX_IN_PRODUCTION_I_MEAN_IT": "1",
        "SANDBOX_PAYMENT_SECRET": secret,
        "FLASH_GATE": "1",
    }
    procs: list[subprocess.Popen] = []
    report: dict = {"args": vars(args), "database": args.database, "queue": queue}
    ok = False
    try:
        harness.database_create(args.database, replace=False)
        settings = "shop.settings.bench"  # the real API plus the minimal buy, in every process
        var_dir = str(tmp / "var")
        env = harness.django_env(args.database, settings=settings, debug=True, var_dir=var_dir, **extra)
        t0 = time.monotonic()
        harness.migrate(env, syncdb=True)
        harness.run([harness.PYTHON, "manage.py", "seed_demo"], env=env, stdout=subprocess.DEVNULL)
        setup_path = tmp / "setup.json"
        harness.in_django(
            env, "bench.setup.saleday_data:prepare", out=str(setup_path), shoppers=args.shoppers,
            stores=args.stores, newcomers=args.newcomers, seed=args.seed,
        )  # fmt: skip
        setup = json.loads(setup_path.read_text())
        harness.in_django(env, "bench.setup.minimal_buy:seed_items")
        report["prepare_seconds"] = round(time.monotonic() - t0, 1)
        print(
            f"prepared {args.database} in {report['prepare_seconds']} s: {len(setup['shoppers'])} "
            f"shoppers, {len(setup['stores'])} stores, {len(setup['skus'])} SKUs, "
            f"{setup['yesterday_orders']} orders completed yesterday",
            flush=True,
        )

        run_env = harness.django_env(args.database, settings=settings, var_dir=var_dir, **extra)
        for i in (1, 2):
            procs.append(
                harness.spawn(
                    [
                        harness.CELERY,
                        "-A",
                        "shop",
                        "worker",
                        "-Q",
                        ",".join(all_queues(queue)),  # and its workload queues
                        "-c",
                        "1",
                        "-n",
                        f"{queue}-{i}@%h",
                        "--loglevel",
                        "WARNING",
                    ],
                    run_env,
                    tmp / f"worker{i}.log",
                )  # fmt: skip
            )
        beat = harness.spawn(
            [
                harness.CELERY,
                "-A",
                "shop",
                "beat",
                "--schedule",
                str(tmp / "beat-schedule"),
                "--loglevel",
                "WARNING",
            ],
            run_env,
            tmp / "beat.log",
        )
        procs.append(beat)
        drain_queue(rds, queue)  # yesterday's settlement and shipping tasks
        port = harness.free_port(args.port)
        server = harness.start_gunicorn(run_env, port, args.workers, log=tmp / "gunicorn.log")
        procs.append(server.proc)  # answering our token: ours, not another program on the port
        report["port"] = port

        warm_up(setup, port=port)  # not measured: every worker loads jieba and fills its caches
        buy = {"connections": args.buy_connections, "seconds": args.buy_seconds}
        if args.buy_warmup:
            harness.wrk(port, **harness.BUY, connections=buy["connections"], seconds=args.buy_warmup)
            server.drain()
        report["buy_before"] = harness.minimal_buy(server, **buy)
        print(f"buy_before: {json.dumps(report['buy_before'])}", flush=True)

        load_samples: list[float] = []
        stop_sampling = threading.Event()
        threading.Thread(target=sample_load, args=(stop_sampling, load_samples), daemon=True).start()
        report["load_before"] = harness.loadavg()
        print(
            f"running the day: {args.minutes} min, {args.users} shopper threads + "
            f"{len(setup['merchants'])} merchant desks; load {report['load_before']}",
            flush=True,
        )
        report["day"] = measure_day(server, setup, args, secret)
        stop_sampling.set()
        report["load_after"] = harness.loadavg()
        report["load_1min_samples"] = load_samples
        report["queue_depth_at_end"] = queue_depth(rds, queue)
        report["drain_seconds"] = drain_queue(rds, queue)
        report["buy_after"] = harness.minimal_buy(server, **buy)
        print(f"buy_after: {json.dumps(report['buy_after'])}", flush=True)
        report["beside_the_buy"] = beside_the_buy(report)
        report["closing"] = close_the_day(setup, port)
        harness.stop(beat)
        travel = []
        start = datetime.now(tz=UTC)
        for step in TRAVEL:
            when = (start + step).isoformat()
            for _ in range(20):  # sweepers work in batches: repeat a moment until it is quiet
                out = subprocess.run(
                    [harness.PYTHON, "manage.py", "run_sweepers", "--now", when],
                    env=run_env, cwd=harness.ROOT, capture_output=True, text=True, check=False,
                )  # fmt: skip
                done = [
                    x.strip() for x in out.stdout.splitlines() if "handled" in x and ": 0 handled" not in x
                ]
                travel.append(
                    {"now": when, "rc": out.returncode, "handled": done, "drain_s": drain_queue(rds, queue)}
                )
                if not done or out.returncode:
                    break
        report["travel"] = travel
        report["checks"] = harness.in_django(
            run_env, "bench.setup.saleday_data:check", setup_path=str(setup_path)
        )
        report["minimal_buy_rows"] = harness.in_django(run_env, "bench.setup.minimal_buy:check")
        report["minimal_buy_ok"] = minimal_buy_held(report)
        ok = (
            all(c["ok"] for c in report["checks"].values())
            and report["day"]["server_errors"] == 0
            and report["minimal_buy_ok"]
        )
        report["ok"] = ok
    finally:
        for proc in reversed(procs):
            harness.stop(proc)
        for log in sorted(tmp.glob("*.log")):
            lines = [
                x for x in log.read_text(errors="replace").splitlines() if "ERROR" in x or "Traceback" in x
            ]
            if lines:
                report.setdefault("process_log_errors", {})[log.name] = lines[:20]
        if redis_was_empty:
            rds.flushdb()
        else:
            rds.delete(queue, f"_kombu.binding.{queue}")
        if args.keep:
            print(f"kept database {args.database}", flush=True)
        else:
            harness.database_drop(args.database)
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        tmp.rmdir()
    text = harness.emit(report)
    if args.report:
        Path(args.report).write_text(text)
    if "beside_the_buy" in report:
        print(f"beside the minimal buy: {json.dumps(report['beside_the_buy'])}")
    print(
        "OK: every check held, no 5xx, every minimal buy 2xx"
        if ok
        else "FAILED: see checks / server_errors / minimal_buy_ok above"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())

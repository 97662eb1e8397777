"""Owner dashboard and first page of members at scale, through the API (issue 4).

    .venv/bin/python bench/groupstore_dashboard.py --database bench_gs --seed --scale 1000 --drop

What it does, step by step (each step prints what it did):
1. ``--seed``: creates the PostgreSQL database, migrates it and runs
   ``seed_demo --scale N`` (bulk COPY; N = 1000 gives 10,000 stores, 1,000,000
   members, 2,000,000 orders), timing it.
2. Issues bearer tokens for ``--owners`` randomly chosen bulk store owners (each
   request of the load picks one of them and asks for *their* store).
3. Starts gunicorn as in production (sync workers, 2×cores+1, persistent database
   connections) with DEBUG=0 and SANDBOX off, on that database; worker recycling is
   turned off for the run (a recycle re-imports Django mid-measurement).
4. For each endpoint (``/bench/read_1``, the authenticated floor: token + one SELECT by
   primary key; ``/stores/{id}/dashboard`` and ``/stores/{id}/members``, first page; and
   ``/me``), in one run, each as a ratio to ``read_1``: 5 s warm-up, then wrk
   with ``--connections`` (16) for ``--duration`` seconds; prints requests/s and
   latency percentiles (p50/p95/p99) as wrk measures them, plus non-2xx counts.
   Also one connection alone, for the per-request cost.
5. Prints the SQL plan timing of the members page query, stops gunicorn, and with
   ``--drop`` drops the database.

Needs ``wrk`` (``apt-get install wrk``); the load generator runs on the same cores as
the server, as in LIMITS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402


def env_for(database: str, **extra: str) -> dict:
    return harness.django_env(database, var_dir="bench-groupstore-var", REDIS_URL=harness.REDIS, **extra)


def seed(database: str, scale: int) -> float:
    harness.database_create(database, replace=False)
    env = env_for(database, DEBUG="1")
    harness.migrate(env)
    started = time.monotonic()
    harness.run([harness.PYTHON, "manage.py", "seed_demo", "--scale", str(scale)], env=env)
    return time.monotonic() - started


def wrk(port: int, targets: Path, path: str, *, connections: int, seconds: int) -> dict:
    return harness.wrk(
        port, "owner_pick", connections=connections, seconds=seconds, args=[str(targets), path]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True, help="bench database name (created with --seed)")
    parser.add_argument("--seed", action="store_true", help="create, migrate and seed the database first")
    parser.add_argument("--scale", type=int, default=100, help="seed_demo --scale (1000 = 10k stores)")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--owners", type=int, default=1000, help="distinct owners (stores) the load spreads over"
    )
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()

    report: dict = {"database": args.database, "connections": args.connections, "workers": args.workers}
    try:
        if args.seed:
            print(f"seeding {args.database} at --scale {args.scale} …", flush=True)
            report["seed_seconds"] = round(seed(args.database, args.scale), 1)
            print(f"  seeded in {report['seed_seconds']} s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            targets = Path(tmp) / "targets.txt"
            data = harness.in_django(
                env_for(args.database, DEBUG="1"),
                "bench.setup.groupstore_dashboard:prepare",
                owners=args.owners,
                targets=str(targets),
            )
            plan = data.pop("members_page_plan")
            report["data"] = data
            print(f"data: {data}", flush=True)
            print(f"members page plan:\n{plan}", flush=True)
            report["load_before"] = os.getloadavg()
            # The bench settings add the reference endpoints (bench/reference_app) in front.
            server = harness.start_gunicorn(
                env_for(args.database, DJANGO_SETTINGS_MODULE="shop.settings.bench"), args.port, args.workers
            )
            try:
                report["results"] = {}
                for name, path in (
                    ("read_1", "/bench/read_1"),  # the floor the others are measured against
                    ("dashboard", "/api/v1/stores/{id}/dashboard"),
                    ("members_first_page", "/api/v1/stores/{id}/members"),
                    # For scale: the lightest authenticated call there is (token + 2 small reads).
                    ("baseline_me", "/api/v1/me"),
                ):
                    wrk(args.port, targets, path, connections=args.connections, seconds=5)  # warm-up
                    loaded = wrk(
                        args.port, targets, path, connections=args.connections, seconds=args.duration
                    )
                    alone = wrk(args.port, targets, path, connections=1, seconds=max(5, args.duration // 2))
                    report["results"][name] = {"c16": loaded, "c1": alone}
                    print(f"{name}: {args.connections} conns {loaded}\n{name}: 1 conn {alone}", flush=True)
                floor = report["results"]["read_1"]["c16"]["rps"]
                report["ratio_to_read_1"] = {
                    name: round(r["c16"]["rps"] / floor, 2) for name, r in report["results"].items()
                }
                print(f"ratio to read_1 at {args.connections} connections: {report['ratio_to_read_1']}")
            finally:
                server.stop()
    finally:
        if args.drop:
            harness.database_drop(args.database)
            print(f"dropped {args.database}", flush=True)
    harness.emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

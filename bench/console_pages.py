"""Merchant console page times with the demo data at ``seed_demo --scale 100`` (issue 16).

    .venv/bin/python bench/console_pages.py --database bench_console --seed --scale 100
    .venv/bin/python bench/console_pages.py --database bench_console          # measure again
    .venv/bin/python bench/console_pages.py --database bench_console --drop   # and drop it

1. ``--seed``: creates the PostgreSQL database, migrates it and runs ``seed_demo --scale N``
   (N = 100: 1,000 stores, 100,000 members, 200,000 orders, all of the one demo merchant,
   so its console pages read the largest data a merchant of the demo has), timing it.
2. Measures in process (``bench/setup/console_pages.py``): a Django test ``Client`` signed in
   as the demo merchant's owner (``sandbox:demo-merchant-owner``), DEBUG off, asks each page
   of ``PAGES`` ``--warmup`` times, then ``--requests`` times timed; prints p50/p95/p99 and the
   number of SQL statements of one request. Target: p95 <= 100 ms for the home page and the
   orders list.

``--to-ship N`` (with ``--seed``) moves the N newest orders back to ``paid`` so the
shipping list has work in it; ``--filters`` also times the orders list as merchants search
it (by number, product, dates, page 50), one order, the products page and the shipping list
downloads (CSV and XLSX).

``PAGES`` is the list to extend when a page lands (``("orders", "/console/orders/")``…).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

PAGES: list[tuple[str, str]] = [
    ("home", "/console/"),
    ("orders", "/console/orders"),
    ("orders_to_ship", "/console/orders?status=paid"),
    ("conversations", "/console/conversations"),
    ("staff", "/console/staff/"),
]
OWNER_UNIONID = "demo-merchant-owner"


def env_for(database: str, **extra: str) -> dict:
    return harness.django_env(database, var_dir="bench-console-var", REDIS_URL=harness.REDIS, **extra)


def seed(database: str, scale: int) -> float:
    harness.database_create(database)
    env = env_for(database, DEBUG="1")  # seed_demo pays the demo deposit through the sandbox
    harness.migrate(env)
    started = time.monotonic()
    harness.run([harness.PYTHON, "manage.py", "seed_demo", "--scale", str(scale)], env=env)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_console")
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--to-ship", type=int, default=0, help="with --seed: orders moved back to paid")
    parser.add_argument("--filters", action="store_true", help="also the searched orders lists and downloads")
    args = parser.parse_args()

    report: dict = {"database": args.database, "scale": args.scale, "load_before": harness.load()}
    if args.seed:
        report["seed_s"] = round(seed(args.database, args.scale), 1)
        print(f"seeded scale {args.scale} in {report['seed_s']} s", flush=True)
        if args.to_ship:
            report["to_ship"] = harness.in_django(
                env_for(args.database), "bench.setup.console_pages:to_ship", count=args.to_ship
            )
    env = env_for(args.database)
    report["orders"] = int(
        harness.run(
            ["psql", f"{harness.PG}/{args.database}", "-Atc", "SELECT count(*) FROM orders_order"],
            capture_output=True,
        ).stdout
    )
    report.update(
        harness.in_django(
            env,
            "bench.setup.console_pages:measure",
            pages=[list(page) for page in PAGES],
            requests=args.requests,
            warmup=args.warmup,
            unionid=OWNER_UNIONID,
            filters=args.filters,
        )
    )
    report["load_after"] = harness.load()
    harness.emit(report)
    if args.drop:
        harness.database_drop(args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())

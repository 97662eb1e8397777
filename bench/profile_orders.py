"""Where an order request's time goes, in one process: the WSGI app called directly
(no gunicorn, no sockets), with cProfile, for the requests of bench/orders_http.py.

    /work/main/.venv/bin/python bench/profile_orders.py [--requests 300] [--top 25]

Prepares a database the way bench/orders_http.py does (same settings, same data, fewer
buyers), sells out the flash offer and opens a second one, then for each kind of request —
the DRF hello, the minimal buy, an ordinary ``POST /api/v1/orders``, a flash winner, a
flash buyer told ``flash_sold_out`` — prints the mean wall time per request without the
profiler (and how much of it was this process's CPU: the rest is PostgreSQL and waiting),
then the functions that took the most of this process's CPU with it (cProfile on CPU
time; or ``--sort py-spy`` to sample wall time instead). The times are relative: compare
the kinds, and a change against the last run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.orders_http import order_body, orders_env  # noqa: E402


def print_stacks(raw: Path, top: int) -> None:
    """py-spy's collapsed stacks as two tables: samples in a function itself, and under it."""
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for frame in set(frames):
            under[frame] = under.get(frame, 0) + int(count)
    for title, table in (("in the function itself", own), ("in it and what it calls", under)):
        print(f"--- share of samples {title} ({total} samples)")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{100 * count / total:6.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_profile")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database (to time pieces by hand)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--sort",
        default="tottime",
        help="pstats order (tottime, cumulative, ...), or py-spy to sample instead",
    )
    parser.add_argument("--callers", default="", help="also print who calls the functions matching this")
    parser.add_argument("only", nargs="*", help="hello, buy, order, flash_win, flash_sold_out (default: all)")
    args = parser.parse_args()
    buyers = 3 * (2 * args.requests + 20) + 10
    harness.database_create(args.database)
    try:
        env = orders_env(args.database)
        setup_env = {**env, "DEBUG": "1"}
        harness.migrate(setup_env, syncdb=True)
        setup = harness.in_django(
            setup_env,
            "bench.setup.orders_http:prepare",
            buyers=buyers,
            flash_stock=1,
            flash_trials=1,
            skus=20,
        )
        # Sold out: the offer's one unit gone, as after a crowd; and a second offer with units
        # for every winner.
        winning = harness.in_django(
            setup_env,
            "bench.setup.orders_http:second_offer",
            offer_id=setup["offer_ids"][0],
            sku_id=setup["sku_ids"][-1],
        )
        payload = {
            "tokens": setup["tokens"],
            "order_body": order_body(setup["store_id"], setup["sku_ids"][0]),
            "flash_body": order_body(setup["store_id"], setup["flash_sku_ids"][0]),
            "flash_win_body": order_body(setup["store_id"], winning["sku_id"]),
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json") as data:
            json.dump(payload, data)
            data.flush()
            command = [
                harness.PYTHON,
                "-m",
                "bench.profile_run",
                data.name,
                str(args.requests),
                str(args.top),
                args.sort,
                *args.only,
            ]
            if args.sort == "py-spy":
                raw = Path(data.name).with_suffix(".stacks")
                command = ["py-spy", "record", "-r", "1000", "-f", "raw", "-o", str(raw), "--", *command]
            subprocess.run(  # noqa: S603 - the 4xx answers' log lines go to stderr, dropped here
                command,
                env={**env, "ALLOWED_HOSTS": "127.0.0.1", "PROFILE_CALLERS": args.callers},
                cwd=harness.ROOT,
                check=True,
                stderr=subprocess.DEVNULL,
            )
        if args.sort == "py-spy":
            print_stacks(raw, args.top)
    finally:
        if not args.keep:
            harness.database_drop(args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())

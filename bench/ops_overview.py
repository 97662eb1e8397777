"""The ops overview's aggregates at 2 M orders (issue 16, step 2).

    .venv/bin/python bench/ops_overview.py --seed --orders 2000000 [--drop]

1. ``--seed``: creates the PostgreSQL database ``bench_ops`` (``--database``), migrates it
   and fills it in SQL (``bench/setup/ops_overview.py``: template rows through the ORM, then
   ``INSERT … SELECT generate_series``): ``--orders`` orders over a year, their settlements,
   after-sales cases, refunds, funds steps, reconciliation cases and 2,000 merchants.
2. Times each panel's selectors uncached (``--runs`` times each; median and best, ms), and
   the whole overview as the admin index computes it every minute at most (the cache).
3. ``--explain``: prints PostgreSQL's plan of the two order queries (sales per day,
   completed-not-settled). ``--drop`` drops the database at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_ops")
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--orders", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    env = harness.django_env(args.database, var_dir="bench-ops-var", REDIS_URL=harness.REDIS)
    seed_env = harness.django_env(  # the template rows go through the sandbox's checkout
        args.database, debug=True, sandbox=True, var_dir="bench-ops-var", REDIS_URL=harness.REDIS
    )
    if args.seed:
        harness.database_create(args.database)
        t0 = time.monotonic()
        harness.migrate(seed_env)
        print(f"migrated in {time.monotonic() - t0:.1f} s", flush=True)
        seeded = harness.in_django(seed_env, "bench.setup.ops_overview:seed", orders=args.orders)
        print("seeded:", json.dumps(seeded, ensure_ascii=False), flush=True)
    results = harness.in_django(env, "bench.setup.ops_overview:measure", runs=args.runs)
    print(f"\nuncached, {args.runs} runs each (load {harness.load()}):")
    for name, figures in results.items():
        print(f"  {name:<40} median {figures['median_ms']:>8.1f} ms   best {figures['best_ms']:>8.1f} ms")
    if args.explain:
        print("\n" + harness.in_django(env, "bench.setup.ops_overview:explain"))
    if args.drop:
        harness.database_drop(args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())

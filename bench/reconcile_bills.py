"""Reconciliation of a 1,000,000-line trade bill: lines/s and peak memory growth (issue 13).

    /work/main/.venv/bin/python bench/reconcile_bills.py --database bench_reconcile --seed --drop

Target: ≥ 50,000 lines/s, peak memory growth ≤ 50 MB.

1. ``--seed``: creates the database, migrates it and writes (by ``COPY``) ``--lines`` payments
   paid on one day, plus seeded differences: payments we still have as unpaid that the bill has
   paid (``missing_ours``), paid ones the bill lacks (``missing_gateway``), amounts that differ,
   closed payments the bill has paid (``status_differs``) and lines of nobody's.
2. Writes the day's trade bill in WeChat's format (backtick fields, yuan amounts) to a file,
   shuffled, as the gateway's download would arrive.
3. In a fresh Python process: ``bill_reconcile`` (parse, stage by ``COPY`` in chunks, match in
   SQL, insert cases) with the bill download read from that file — lines/s over the whole call
   and the growth of the process's peak RSS during it (``resource.getrusage``). Then once more:
   a re-import must add no case.
4. With ``--drop`` drops the database.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.setup.reconcile_bills import EXPECTED  # noqa: E402

STEPS = "bench.setup.reconcile_bills"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_reconcile")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--bill", default=str(Path(tempfile.gettempdir()) / "bench-reconcile-trade.csv"))
    args = parser.parse_args()
    env = harness.django_env(args.database)
    if args.seed:
        harness.database_create(args.database)
        harness.migrate(env)
        started = time.perf_counter()
        seeded = harness.in_django(env, f"{STEPS}:seed", lines=args.lines, bill_path=args.bill)
        print(f"seeded in {time.perf_counter() - started:.0f} s: {json.dumps(seeded)}")
    figures = harness.in_django(env, f"{STEPS}:reconcile", bill_path=args.bill)
    for label in ("first", "again"):
        f = figures[label]
        print(
            f"{label:>5}: {f['lines']:,} lines in {f['seconds']} s = {f['lines_per_s']:,} lines/s, "
            f"peak RSS growth {f['peak_rss_growth_mb']} MB, {f['new_cases']} new case(s), {f['status']}"
        )
        fees = figures[label + "_fees"]
        print(
            f"{'':>5}  then its handling fees booked (a task of their own): {fees['seconds']} s = "
            f"{fees['lines_per_s']:,} lines/s, {fees['fee_rows']:,} fee rows"
        )
    print(f"cases by kind: {figures['cases']} (seeded: {EXPECTED})")
    ok = figures["cases"] == EXPECTED and figures["again"]["new_cases"] == 0
    print("differences found exactly as seeded, re-import added none" if ok else "MISMATCH")
    if args.drop:
        harness.database_drop(args.database)
        Path(args.bill).unlink(missing_ok=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()

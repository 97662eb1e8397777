"""What an order costs over its whole life, per order, counted (not timed): SQL statements,
rows, index entries, WAL bytes, database growth, Redis commands, Celery tasks by queue — for
placing, the payment callback and its tasks, shipping, receipt, completion, settlement and,
on the profit-sharing default, the share and unfreeze steps (issue 18 step 8; docs/capacity.md).

    /work/main/.venv/bin/python bench/order_costs.py --orders 500            # both funds modes
    /work/main/.venv/bin/python bench/order_costs.py --funds profit_sharing --orders 500 --json out.json

For each funds mode: creates ``bench_cap_<mode>``, migrates it, and runs
``bench/setup/order_costs.py:run`` in one Django process (how each figure is counted:
``bench/setup/cost_meter.py``). Celery's broker is ``memory://`` there: every task a step
publishes is counted by queue, then run in that process, eagerly, in a window of its own
(counts, not timings). The sandbox gateways stand in for WeChat; their Redis commands are
reported apart. Prints a table per mode and a JSON report; drops the database (``--keep``
keeps it). The counts do not depend on the machine's load: they may be recorded as measured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.capacity import at_scale, flash_peak, per_order, table, tables_per_month  # noqa: E402


def env_for(database: str, funds: str, namespace: str) -> dict[str, str]:
    return harness.django_env(
        database,
        sandbox=True,
        SANDBOX_IN_PRODUCTION_I_MEAN_IT="1",  # the sandboxes with DEBUG off: a bench
        MERCHANT_FUNDS=funds,
        REDIS_URL=harness.REDIS,
        CELERY_BROKER_URL="memory://",  # published messages are counted and run in process
        CELERY_TASK_DEFAULT_QUEUE="bench-cap",
        CELERY_TASK_ALWAYS_EAGER="0",
        SANDBOX_ECOMMERCE_NAMESPACE=namespace,
    )


def measure(funds: str, *, orders: int, stores: int, settle_batch: int, keep: bool) -> dict:
    database = f"bench_cap_{funds}"
    namespace = f"bench-{database}-{os.getpid()}"  # the e-commerce sandbox's state: this run's own
    harness.database_create(database)
    try:
        env = env_for(database, funds, namespace)
        harness.migrate(env)
        return harness.in_django(
            env, "bench.setup.order_costs:run", orders=orders, stores=stores, settle_batch=settle_batch
        )
    finally:
        if not keep:
            harness.database_drop(database)
            _redis_cleanup(namespace)


def _redis_cleanup(namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(harness.REDIS)
    keys = list(client.scan_iter(match=f"*sandbox-ecommerce:{namespace}:*", count=10_000))
    for start in range(0, len(keys), 10_000):
        client.delete(*keys[start : start + 10_000])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--stores", type=int, default=10, help="stores (each its own merchant and SKU)")
    parser.add_argument(
        "--funds", choices=("profit_sharing", "platform", "both"), default="both", help="MERCHANT_FUNDS"
    )
    parser.add_argument(
        "--settle-batch",
        type=int,
        default=0,
        help="0: the per-order tasks completion enqueues; N: batches of N",
    )
    parser.add_argument("--orders-per-day", type=int, default=10_000_000)
    parser.add_argument("--peak", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    opts = parser.parse_args()
    modes = ("profit_sharing", "platform") if opts.funds == "both" else (opts.funds,)
    report = {"load_before": harness.loadavg(), "modes": {}}
    ok = True
    for funds in modes:
        raw = measure(
            funds, orders=opts.orders, stores=opts.stores, settle_batch=opts.settle_batch, keep=opts.keep
        )
        per = per_order(raw["steps"], raw["orders"])
        scale = at_scale(per["whole life"], orders_per_day=opts.orders_per_day, peak=opts.peak)
        print(f"\n== {funds}: per order, {raw['orders']} orders, checks {raw['checks']}")  # noqa: T201
        print(table(per))  # noqa: T201
        monthly = tables_per_month(raw["table_bytes"], raw["orders"], orders_per_day=opts.orders_per_day)
        live = tables_per_month(raw["table_bytes_live"], raw["orders"], orders_per_day=opts.orders_per_day)
        print(f"GB a month at {opts.orders_per_day:,} orders a day: written (no vacuum) / live rows")  # noqa: T201
        for name, size in list(monthly.items())[:14]:
            print(f"{name:32} {size / 1e9:8.1f} {live.get(name, 0) / 1e9:8.1f}")  # noqa: T201
        report["modes"][funds] = {
            "raw": raw,
            "per_order": per,
            "at_scale": scale,
            "flash_peak": flash_peak(per, orders_per_day=opts.orders_per_day, peak=opts.peak),
            "tables_per_month": monthly,
            "tables_per_month_live": live,
        }
        ok = ok and raw["checks"]["ok"] and not raw["messages_left"]
    report["load_after"] = harness.loadavg()
    text = harness.emit(report)
    if opts.json:
        opts.json.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

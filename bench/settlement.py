"""Settlement of 100,000 completed orders: one process without Celery vs 2 Celery worker
processes through Redis, measured in the same run (issue 6).

    /work/main/.venv/bin/python bench/settlement.py --orders 100000

What it does, step by step (each step prints what it did):
1. Creates ``<db>_seed``, migrates it and makes ``--stores`` stores × ``--members``
   members, each store selling one merchant's SKU (its own merchant, price and
   commission), and one completed order per member through the **real services**
   (checkout, signed sandbox payment callback, ship, receive, complete): these are the
   templates, with their real accruals, ledger postings and store figures.
2. Clones the templates in SQL up to ``--orders`` completed orders (orders, items and
   pending accruals copied row for row, ids interleaved so each batch spans every
   merchant and store), and scales what their payments wrote the same way: one seed
   ledger transaction adding (copies − 1) × each account's balance, and the store and
   member figures multiplied. ``ledger_check`` passes and every wallet's pending balance
   equals its pending accruals (both checked).
3. Copies the seeded database twice (``CREATE DATABASE … TEMPLATE``), so both
   measurements start from the same state.
4. (a) settles ``<db>_a`` in one Python process: ``orders_settle`` on batches of
   ``SETTLEMENT_BATCH_SIZE`` orders in pk order, no Celery.
5. (b) starts ``celery worker --pool prefork -c 2 --prefetch-multiplier 1`` (or two
   workers ``-c 1`` with ``--two-workers``) on ``<db>_b`` with ``CELERY_DB_REUSE_MAX``,
   enqueues the same batches as ``orders_settle_task`` messages through Redis (what the
   catch-up sweeper sends; the task is ``acks_late`` + ``reject_on_worker_lost``) and
   times from the first enqueue to the last order settled (polling the database).
6. Checks each result: ``ledger_check``, every order settled exactly once (one
   ``OrderSettlement`` and one ``order:<id>:settle`` transaction each, no pending
   accrual left), no pending wallet balance left; times ``ledger_check`` (every
   registered reconciliation check included; issue 13's target: ≤ 30 s). Prints the
   figures and the load.
7. Drops the three databases (``--keep`` keeps them).

``--funds profit_sharing``: the orders are paid by profit sharing (``MERCHANT_FUNDS``): the
templates are paid into their merchants' frozen funds at the e-commerce sandbox (its state
in Redis, namespace ``bench-<db>``), and the clones get a payment part each (own
``out_trade_no`` and ``transaction_id``), their ``order_paid_shared`` posting (what
``ledger_check``'s parts check reconciles order by order) and their paid part at the sandbox.
Settlement then writes one share row (``FundsStep`` ``S<order>``) per order instead of
settling it; the after-commit sends of those rows are routed to a queue of their own
(``bench/parked_celery.py``, ``bench-parked-<db>_a``/``_b``), so settlement is measured
alone and ``bench/shares_drain.py`` drains what it wrote. Checks: one share row per order,
none twice, ``ledger_check``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.harness import REDIS, load  # noqa: E402

EXTRA_ENV: dict[str, str] = {}  # every step's and worker's, set by main (``--funds``)


def shared_env(database: str) -> dict[str, str]:
    """What a process of this bench needs when orders are paid by profit sharing."""
    return {
        "MERCHANT_FUNDS": "profit_sharing",
        "SANDBOX": "1",  # the e-commerce sandbox, with DEBUG off: a bench, not production
        "SANDBOX_IN_PRODUCTION_I_MEAN_IT": "1",
        "REDIS_URL": REDIS,
        "CELERY_BROKER_URL": REDIS,
        "SANDBOX_ECOMMERCE_NAMESPACE": f"bench-{database}",
    }


def parked_queue(database: str) -> str:
    """Where the funds steps' sends of settlement on ``database`` wait (``parked_celery``)."""
    return f"bench-parked-{database}"


def django_env(database: str, *, debug: bool = False, **extra: str) -> dict:
    # ``--funds platform`` says so: the project's default is profit sharing (``shared_env``).
    env = harness.django_env(
        database, debug=debug, sandbox=debug, CELERY_DB_REUSE_MAX="1000", MERCHANT_FUNDS="platform"
    )
    env.update(EXTRA_ENV)
    if EXTRA_ENV and debug:
        env.pop("SANDBOX_IN_PRODUCTION_I_MEAN_IT")
    env.update(extra)
    return env


def step(database: str, target: str, kwargs: dict | None = None, *, debug: bool = False, **env: str):
    """``bench.setup.<target>`` with ``kwargs`` in a fresh Django process on ``database``."""
    return harness.in_django(
        django_env(database, debug=debug, **env), f"bench.setup.{target}", **(kwargs or {})
    )


def start_workers(
    database: str, queue: str, two: bool, log_dir: Path, *, app: str = "shop", **extra: str
) -> list[subprocess.Popen]:
    """One worker ``prefork -c 2`` on ``queue`` (or two ``-c 1``), prefetch 1."""
    env = django_env(
        database, REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS, CELERY_TASK_DEFAULT_QUEUE=queue, **extra
    )
    layouts = [("1", f"bench-a-{queue}"), ("1", f"bench-b-{queue}")] if two else [("2", f"bench-{queue}")]
    return harness.celery_workers(env, queue, layouts, log_dir, app=app)


def redis_cleanup(*, queues: list[str], namespace: str | None) -> None:
    """Drop the parked queues and the sandbox's keys of a run (``--keep`` keeps them)."""
    import redis

    from shop.api.metrics import priority_lists

    client = redis.Redis.from_url(REDIS)
    if queues:
        client.delete(*(name for queue in queues for name in priority_lists(queue)))
    if namespace:
        keys = list(client.scan_iter(match=f"*sandbox-ecommerce:{namespace}:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_settle")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--members", type=int, default=10, help="members per store (one template order each)")
    parser.add_argument("--batch", type=int, default=int(os.environ.get("SETTLEMENT_BATCH_SIZE", 200)))
    parser.add_argument("--two-workers", action="store_true", help="2 workers -c 1 instead of one -c 2")
    parser.add_argument(
        "--funds",
        choices=("platform", "profit_sharing"),
        default="platform",
        help="how the seeded orders are paid (profit_sharing: settlement writes share rows)",
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--keep", action="store_true", help="keep the databases (and the parked sends)")
    parser.add_argument("--skip-seed", action="store_true", help="reuse <db>_seed from a --keep run")
    opts = parser.parse_args()

    db, seed = opts.database, f"{opts.database}_seed"
    shared = opts.funds == "profit_sharing"
    if shared:
        EXTRA_ENV.update(shared_env(db))  # one sandbox namespace: the seed's, copied by (a) and (b)
    flag = int(shared)
    say = print  # noqa: T201
    if not opts.skip_seed:
        harness.database_create(seed)
        harness.migrate(django_env(seed))
        t = time.perf_counter()
        seeded = step(
            seed, "settlement_seed:seed", dict(orders=opts.orders, stores=opts.stores, members=opts.members,
            shared=flag), debug=True, CELERY_TASK_ALWAYS_EAGER="1",
        )  # fmt: skip
        say(f"seed: {seeded} in {time.perf_counter() - t:.1f} s")
        before = step(seed, "settlement:check")
        say(f"seed check: {before}")
        if before["ledger_check"] != "passes" or before["pending_wallets_off_accruals"]:
            sys.exit("the seed is not consistent")
    for name in (f"{db}_a", f"{db}_b"):
        harness.database_create(name, template=seed)
    say(f"copied {seed} to {db}_a and {db}_b")

    say(f"(a) one process, no Celery, batches of {opts.batch}, funds {opts.funds} … {load()}")
    parked = {"BENCH_PARKED_QUEUE": parked_queue(f"{db}_a")} if shared else {}
    inline = step(f"{db}_a", "settlement:inline", {"batch": opts.batch, "shared": flag}, **parked)
    inline["load_after"] = load()
    say(f"(a) {inline}")

    queue = f"bench-settle-{os.getpid()}"
    layout = "2 workers -c 1" if opts.two_workers else "1 worker prefork -c 2"
    say(f"(b) Celery {layout}, prefetch 1, acks_late, Redis … {load()}")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-settle-"))
    parked = {"BENCH_PARKED_QUEUE": parked_queue(f"{db}_b")} if shared else {}
    app = "bench.parked_celery" if shared else "shop"
    workers = start_workers(f"{db}_b", queue, opts.two_workers, log_dir, app=app, **parked)
    try:
        measured = {"batch": opts.batch, "timeout": int(opts.timeout), "shared": flag}
        celery = step(
            f"{db}_b", "settlement:celery", measured,
            REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS, CELERY_TASK_DEFAULT_QUEUE=queue,
        )  # fmt: skip
    finally:
        for worker in workers:
            harness.stop(worker)
    celery["load_after"] = load()
    say(f"(b) {celery}")

    checks = {"a": step(f"{db}_a", "settlement:check"), "b": step(f"{db}_b", "settlement:check")}
    for name, check in checks.items():
        say(f"check ({name}): {check}")
    ratio = celery["rate"] / inline["rate"]
    what = "share rows" if shared else "orders"
    say(
        f"RESULT funds={opts.funds} {what}={celery['orders']} "
        f"(a) {inline['rate']}/s in {inline['seconds']} s; "
        f"(b) {celery['rate']}/s in {celery['seconds']} s; (b)/(a) = {ratio:.2f}; "
        f"targets: (b) <= 60 s {'met' if celery['seconds'] <= 60 else 'MISSED'}, "
        f"ratio >= 0.5 {'met' if ratio >= 0.5 else 'MISSED'}"
    )
    if shared:  # (a)'s sends are never drained; (b)'s are, by bench/shares_drain.py (--keep)
        redis_cleanup(
            queues=[parked_queue(f"{db}_a")] + ([] if opts.keep else [parked_queue(f"{db}_b")]),
            namespace=None if opts.keep else f"bench-{db}",
        )
    if not opts.keep:
        for name in (f"{db}_a", f"{db}_b", seed):
            harness.database_drop(name)
    if shared:
        ok = all(
            c["ledger_check"] == "passes"
            and c["share_rows"] == c["orders_completed"] == c["shared_orders"]
            and not c["orders_with_two_shares"]
            and not c["orders_settled"]  # the money moves when each share is FINISHED
            for c in checks.values()
        )
    else:
        ok = all(
            c["ledger_check"] == "passes"
            and c["orders_settled"] == c["orders_completed"] == c["settle_transactions"]
            and not c["orders_settled_twice"]
            and not c["accruals_pending"]
            for c in checks.values()
        )
    sys.exit(0 if ok else "a check failed")


if __name__ == "__main__":
    main()

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
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
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
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{database}",
        "SHOP_VAR_DIR": str(Path(tempfile.gettempdir()) / "bench-var"),
        "DEBUG": "1" if debug else "0",
        "SANDBOX": "1" if debug else "0",
        "SECRET_KEY": "bench-only-not-a-secret",  # noqa: S105
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "shop.settings.base",
        "PYTHONPATH": str(ROOT),
        "CELERY_DB_REUSE_MAX": "1000",
    }
    env.update(EXTRA_ENV)
    if EXTRA_ENV and debug:
        env.pop("SANDBOX_IN_PRODUCTION_I_MEAN_IT")
    env.update(extra)
    return env


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, check=True, text=True, cwd=ROOT, **kwargs)  # noqa: S603


def psql(sql: str) -> None:
    run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], stdout=subprocess.DEVNULL)


def step(
    database: str, name: str, *args: str, debug: bool = False, script: str = __file__, **env: str
) -> dict:
    """Run one step of this script (or ``script``) in a fresh Django process; return its JSON answer."""
    out = run(
        [sys.executable, script, "--step", name, *args],
        env=django_env(database, debug=debug, **env),
        stdout=subprocess.PIPE,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} (1/5 min)"


# --- steps run inside Django --------------------------------------------------------------


def _seed(orders: int, stores: int, members: int, shared: int = 0) -> dict:
    import django

    django.setup()
    from django.db import connection

    from groupstore.tests.factories import make_store
    from products.tests.factories import SkuFactory
    from rebates.tests.helpers import make_completed_orders

    started = time.perf_counter()
    templates = []
    for i in range(stores):
        store, _, buyers = make_store(members=members, name=f"团购群{i}")
        sku = SkuFactory(price_fen=990 + 100 * i, commission_bps=500 + 50 * (i % 10), on_hand=members)
        templates += make_completed_orders(buyers=buyers, store=store, sku=sku)
    made_at = time.perf_counter()
    copies = -(-orders // len(templates))
    ids = sorted(o.pk for o in templates)
    with connection.cursor() as cursor:
        _clone(cursor, ids, copies, orders)
        if shared:
            _clone_shared(cursor)
        _scale_ledger_and_figures(cursor, copies, cloned_postings=bool(shared))
    parts = _sandbox_clone_parts() if shared else 0
    return {
        "sandbox_parts": parts,
        "templates": len(templates),
        "copies": copies,
        "templates_s": round(made_at - started, 1),
        "clone_s": round(time.perf_counter() - made_at, 1),
    }


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [c for (c,) in cursor.fetchall() if c != "id"]


def _copy(cursor, table: str, source_join: str, replace: dict[str, str], new_id: str) -> None:
    cols = _columns(cursor, table)
    select = ", ".join(replace.get(c, f"t.{c}") for c in cols)
    cursor.execute(f"INSERT INTO {table} (id, {', '.join(cols)}) SELECT {new_id}, {select} {source_join}")  # noqa: S608


def _clone(cursor, ids: list[int], copies: int, orders: int) -> None:
    """Copies 1 … copies-1 of each template order, ids interleaved (copy-major), cut at ``orders``."""
    cursor.execute(
        "CREATE TEMP TABLE order_map AS SELECT src, nextval('orders_order_id_seq') AS dst FROM ("
        "  SELECT o.id AS src, g FROM orders_order o, generate_series(1, %s) g"
        "  WHERE o.id = ANY(%s) ORDER BY g, o.id LIMIT %s) s ORDER BY g, src",
        [copies - 1, ids, orders - len(ids)],
    )
    _copy(cursor, "orders_order", "FROM order_map m JOIN orders_order t ON t.id = m.src", {}, "m.dst")
    # Each clone has a payment of its own, as a checkout would (ledger_check reconciles
    # gateway clearing with the succeeded payments).
    cursor.execute(
        "CREATE TEMP TABLE payment_map AS SELECT m.dst AS dst_order, o.payment_id AS src, "
        "nextval('payments_payment_id_seq') AS dst "
        "FROM order_map m JOIN orders_order o ON o.id = m.src"
    )
    _copy(
        cursor,
        "payments_payment",
        "FROM payment_map m JOIN payments_payment t ON t.id = m.src",
        {"out_trade_no": "'BENCH' || m.dst", "gateway_txn_id": "'bench-' || m.dst"},
        "m.dst",
    )
    cursor.execute("UPDATE orders_order o SET payment_id = m.dst FROM payment_map m WHERE o.id = m.dst_order")
    cursor.execute(
        "CREATE TEMP TABLE item_map AS SELECT i.id AS src, m.dst AS dst_order, "
        "nextval('orders_orderitem_id_seq') AS dst "
        "FROM order_map m JOIN orders_orderitem i ON i.order_id = m.src"
    )
    _copy(
        cursor,
        "orders_orderitem",
        "FROM item_map m JOIN orders_orderitem t ON t.id = m.src",
        {"order_id": "m.dst_order"},
        "m.dst",
    )
    _copy(
        cursor,
        "rebates_accrual",
        "FROM item_map m JOIN rebates_accrual t ON t.order_item_id = m.src",
        {"order_id": "m.dst_order", "order_item_id": "m.dst"},
        "nextval('rebates_accrual_id_seq')",
    )
    cursor.execute("ANALYZE")


def _clone_shared(cursor) -> None:
    """Orders paid by profit sharing: each clone's payment part (its own numbers) and its
    ``order_paid_shared`` posting (transaction and entries, as the template's), which
    ``ledger_check`` reconciles order by order. Balances are left to the seed transaction."""
    cursor.execute(
        "CREATE TEMP TABLE part_map AS SELECT p.id AS src, m.dst AS dst_order, pm.dst AS dst_payment, "
        "nextval('payments_paymentpart_id_seq') AS dst "
        "FROM order_map m JOIN payments_paymentpart p ON p.order_id = m.src "
        "JOIN payment_map pm ON pm.dst_order = m.dst"
    )
    _copy(
        cursor,
        "payments_paymentpart",
        "FROM part_map m JOIN payments_paymentpart t ON t.id = m.src",
        {
            "payment_id": "m.dst_payment",
            "order_id": "m.dst_order",
            "out_trade_no": "'BENCHP' || m.dst_order",
            "transaction_id": "'4200bench' || m.dst_order",
        },
        "m.dst",
    )
    cursor.execute(
        "CREATE TEMP TABLE tx_map AS SELECT t.id AS src, m.dst AS dst_order, "
        "nextval('ledger_transaction_id_seq') AS dst FROM order_map m JOIN ledger_transaction t "
        "ON t.ref_type = 'order' AND t.ref_id = m.src AND t.kind = 'order_paid_shared'"
    )
    _copy(
        cursor,
        "ledger_transaction",
        "FROM tx_map m JOIN ledger_transaction t ON t.id = m.src",
        {"idempotency_key": "'order:' || m.dst_order || ':paid_shared'", "ref_id": "m.dst_order"},
        "m.dst",
    )
    _copy(
        cursor,
        "ledger_entry",
        "FROM tx_map m JOIN ledger_entry t ON t.transaction_id = m.src",
        {"transaction_id": "m.dst"},
        "nextval('ledger_entry_id_seq')",
    )


def _sandbox_clone_parts() -> int:
    """Each cloned part paid at the e-commerce sandbox too: its part (a copy of its
    template's, under its own numbers) and its money added to the merchant's frozen funds,
    written straight into the sandbox's store in bulk (what ``simulate_payment`` leaves)."""
    from collections import defaultdict

    from django.core.cache import cache

    from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
    from shop.payments.models import PaymentPart

    store = SandboxEcommerceGateway()._s  # the bench seeds the sandbox's own records
    parts = list(
        PaymentPart.objects.order_by("pk").values_list("sub_mchid", "out_trade_no", "transaction_id")
    )
    templates = {
        txn: store.get(f"part:{sub}:{out}") for sub, out, txn in parts if not txn.startswith("4200bench")
    }
    templates = {txn: part for txn, part in templates.items() if part is not None}
    by_order = dict(
        PaymentPart.objects.filter(transaction_id__in=list(templates)).values_list(
            "order_id", "transaction_id"
        )
    )
    frozen: dict[str, int] = defaultdict(int)
    batch: dict[str, object] = {}
    cloned = 0
    rows = PaymentPart.objects.filter(transaction_id__startswith="4200bench").values_list(
        "sub_mchid", "out_trade_no", "transaction_id", "order_id", "amount_fen"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT dst, src FROM order_map")
        source = dict(cursor.fetchall())
    for sub, out, txn, order_id, amount in rows.iterator(chunk_size=5000):
        template = templates[by_order[source[order_id]]]
        part = {**template, "out_trade_no": out, "transaction_id": txn, "combine": None}
        if (part["amount"], part["sub_mchid"]) != (amount, sub):
            raise RuntimeError(f"the clone of order {order_id} differs from its template")
        batch[store._k(f"part:{sub}:{out}")] = part
        batch[store._k(f"txn:{txn}")] = f"{sub}:{out}"
        frozen[sub] += amount
        cloned += 1
        if len(batch) >= 5000:
            cache.set_many(batch, timeout=store._ttl)
            batch = {}
    cache.set_many(batch, timeout=store._ttl)
    for sub, amount in frozen.items():
        store.incr(f"bal:{sub}:frozen", amount)
    return cloned


def _scale_ledger_and_figures(cursor, copies: int, *, cloned_postings: bool = False) -> None:
    """What the clones' payments would have written: every balance × copies (one balanced
    seed transaction), store and member figures × copies (all of them came from the
    templates' payments: nothing else has happened in this database). With
    ``cloned_postings`` the clones' own postings (``tx_map``) are already entries: the seed
    transaction carries the rest."""
    extra = copies - 1
    cursor.execute(
        "INSERT INTO ledger_transaction (idempotency_key, kind, memo, ref_type, ref_id, created_at) "
        "VALUES ('bench:seed', 'bench_seed', 'Payments of the cloned orders', '', NULL, now()) RETURNING id"
    )
    (tx_id,) = cursor.fetchone()
    cloned = (
        "SELECT e.account_id, sum(e.amount_fen) AS fen FROM ledger_entry e JOIN tx_map m "
        "ON m.dst = e.transaction_id GROUP BY e.account_id"
        if cloned_postings
        else "SELECT NULL::bigint AS account_id, 0::bigint AS fen"
    )
    cursor.execute(
        "INSERT INTO ledger_entry (transaction_id, account_id, amount_fen) "  # noqa: S608
        "SELECT %s, a.id, a.balance_fen * %s - coalesce(c.fen, 0) FROM ledger_account a "
        f"LEFT JOIN ({cloned}) c ON c.account_id = a.id "
        "WHERE a.balance_fen * %s - coalesce(c.fen, 0) <> 0",
        [tx_id, extra, extra],
    )
    cursor.execute("UPDATE ledger_account SET balance_fen = balance_fen * %s", [copies])
    cursor.execute(
        "UPDATE groupstore_storestats SET orders_count = orders_count * %s, gmv_fen = gmv_fen * %s, "
        "net_paid_fen = net_paid_fen * %s, commission_pending_fen = commission_pending_fen * %s",
        [copies] * 4,
    )
    cursor.execute(
        "UPDATE groupstore_membership SET orders_count = orders_count * %s, paid_fen = paid_fen * %s, "
        "discount_fen = discount_fen * %s, saved_fen = saved_fen * %s",
        [copies] * 4,
    )


def _check() -> dict:
    """The books and the settlement facts, as plain numbers."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    out = {}
    started = time.perf_counter()
    try:
        call_command("ledger_check", stdout=open(os.devnull, "w"))  # noqa: SIM115
        out["ledger_check"] = "passes"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["ledger_check"] = f"FAILS: {exc}"
    out["ledger_check_s"] = round(time.perf_counter() - started, 2)
    queries = {
        "orders_completed": "SELECT count(*) FROM orders_order WHERE status = 'completed'",
        "orders_settled": "SELECT count(*) FROM rebates_ordersettlement",
        "settle_transactions": (
            "SELECT count(*) FROM ledger_transaction WHERE idempotency_key LIKE 'order:%%:settle'"
        ),
        "orders_settled_twice": (
            "SELECT count(*) FROM (SELECT ref_id FROM ledger_transaction WHERE kind = 'commission_settled' "
            "GROUP BY ref_id HAVING count(*) > 1) t"
        ),
        "accruals_pending": "SELECT count(*) FROM rebates_accrual WHERE status = 'pending'",
        "pending_wallet_fen": (
            "SELECT coalesce(sum(balance_fen), 0) FROM ledger_account WHERE kind = 'user_pending'"
        ),
        "pending_wallets_off_accruals": (
            "SELECT count(*) FROM ledger_account a LEFT JOIN (SELECT beneficiary_id, "
            "sum(amount_fen - cancelled_fen) AS fen FROM rebates_accrual WHERE status = 'pending' "
            "AND beneficiary_id IS NOT NULL GROUP BY beneficiary_id) p ON p.beneficiary_id = a.owner_id "
            "WHERE a.kind = 'user_pending' AND a.balance_fen <> coalesce(p.fen, 0)"
        ),
        "settlement_runs": "SELECT count(*) FROM rebates_settlementrun",
        "share_rows": "SELECT count(*) FROM payments_fundsstep WHERE kind = 'share'",
        "orders_with_two_shares": (
            "SELECT count(*) FROM (SELECT order_id FROM payments_fundsstep WHERE kind = 'share' "
            "GROUP BY order_id HAVING count(*) > 1) t"
        ),
        "shared_orders": "SELECT count(*) FROM payments_paymentpart",
    }
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            out[name] = int(cursor.fetchone()[0])
    return out


def _park_sends() -> None:
    """Shared orders: settlement's after-commit sends go to the parked queue (``parked_celery``)."""
    if os.environ.get("BENCH_PARKED_QUEUE"):
        from bench.parked_celery import park_funds_steps

        park_funds_steps(os.environ["BENCH_PARKED_QUEUE"])


def _done(shared: int) -> int:
    """Orders settled so far (shared: share rows written)."""
    from django.db.models import Sum

    from rebates.models import SettlementRun
    from shop.payments.models import FundsStep

    if shared:
        return FundsStep.objects.filter(kind=FundsStep.Kind.SHARE).count()
    # Summed over the batches' run rows (hundreds), not a count of the settlement rows:
    # counting 100,000 rows ten times a second took CPU from the workers being measured.
    return SettlementRun.objects.aggregate(n=Sum("orders_settled"))["n"] or 0


def _inline(batch: int, shared: int = 0) -> dict:
    import django

    django.setup()
    _park_sends()
    from orders.models import Order
    from rebates.services.settlement import orders_settle

    ids = list(
        Order.objects.filter(status=Order.Status.COMPLETED).order_by("pk").values_list("pk", flat=True)
    )
    started = time.perf_counter()
    settled = 0
    for start in range(0, len(ids), batch):
        settled += orders_settle(order_ids=ids[start : start + batch])
    elapsed = time.perf_counter() - started
    settled = _done(shared) if shared else settled
    return {"orders": settled, "seconds": round(elapsed, 2), "rate": round(settled / elapsed)}


def _enqueue_and_wait(batch: int, timeout: float, shared: int = 0) -> dict:
    import django

    django.setup()
    from orders.models import Order
    from rebates.tasks import orders_settle_task

    ids = list(
        Order.objects.filter(status=Order.Status.COMPLETED).order_by("pk").values_list("pk", flat=True)
    )
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        orders_settle_task.delay(ids[start : start + batch])
    enqueued = time.perf_counter() - started
    deadline = started + timeout
    done = 0
    while time.perf_counter() < deadline:
        done = _done(shared)
        if done >= len(ids):
            break
        time.sleep(0.25 if shared else 0.1)
    elapsed = time.perf_counter() - started
    return {
        "orders": done,
        "messages": -(-len(ids) // batch),
        "enqueue_s": round(enqueued, 2),
        "seconds": round(elapsed, 2),
        "rate": round(done / elapsed),
        "complete": done >= len(ids),
    }


# --- the driver ---------------------------------------------------------------------------


def _start_workers(
    database: str, queue: str, two: bool, log_dir: Path, *, app: str = "shop", **extra: str
) -> list[subprocess.Popen]:
    env = django_env(
        database, REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS, CELERY_TASK_DEFAULT_QUEUE=queue, **extra
    )
    layouts = [("1", f"bench-a-{queue}"), ("1", f"bench-b-{queue}")] if two else [("2", f"bench-{queue}")]
    workers = []
    for concurrency, name in layouts:
        log = log_dir / f"{name}.log"
        with open(log, "w") as out:
            workers.append(
                subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue, "--pool", "prefork",
                     "-c", concurrency, "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle",
                     "--loglevel", "WARNING", "-n", f"{name}@%h"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
    # Ready when every worker process has connected to PostgreSQL (the heartbeat task's hook
    # is not needed: a worker's first task opens its connection; give them a moment).
    time.sleep(6)
    for worker in workers:
        if worker.poll() is not None:
            raise RuntimeError(f"a worker exited early; see {log_dir}")
    return workers


def _redis_cleanup(*, queues: list[str], namespace: str | None) -> None:
    """Drop the parked queues and the sandbox's keys of a run (``--keep`` keeps them)."""
    import redis

    client = redis.Redis.from_url(REDIS)
    if queues:
        client.delete(*queues)
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
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    opts = parser.parse_args()

    if opts.step:
        answer = {"seed": _seed, "check": _check, "inline": _inline, "celery": _enqueue_and_wait}[opts.step]
        print(json.dumps(answer(*[int(x) for x in opts.args])))  # noqa: T201
        return

    db, seed = opts.database, f"{opts.database}_seed"
    shared = opts.funds == "profit_sharing"
    if shared:
        EXTRA_ENV.update(shared_env(db))  # one sandbox namespace: the seed's, copied by (a) and (b)
    flag = str(int(shared))
    say = print  # noqa: T201
    if not opts.skip_seed:
        psql(f"DROP DATABASE IF EXISTS {seed}")
        psql(f"CREATE DATABASE {seed}")
        run([sys.executable, "manage.py", "migrate", "-v", "0"], env=django_env(seed))
        t = time.perf_counter()
        seeded = step(
            seed, "seed", str(opts.orders), str(opts.stores), str(opts.members), flag,
            debug=True, CELERY_TASK_ALWAYS_EAGER="1",
        )  # fmt: skip
        say(f"seed: {seeded} in {time.perf_counter() - t:.1f} s")
        before = step(seed, "check")
        say(f"seed check: {before}")
        if before["ledger_check"] != "passes" or before["pending_wallets_off_accruals"]:
            sys.exit("the seed is not consistent")
    for name in (f"{db}_a", f"{db}_b"):
        psql(f"DROP DATABASE IF EXISTS {name}")
        psql(f"CREATE DATABASE {name} TEMPLATE {seed}")
    say(f"copied {seed} to {db}_a and {db}_b")

    say(f"(a) one process, no Celery, batches of {opts.batch}, funds {opts.funds} … {load()}")
    parked = {"BENCH_PARKED_QUEUE": parked_queue(f"{db}_a")} if shared else {}
    inline = step(f"{db}_a", "inline", str(opts.batch), flag, **parked)
    inline["load_after"] = load()
    say(f"(a) {inline}")

    queue = f"bench-settle-{os.getpid()}"
    layout = "2 workers -c 1" if opts.two_workers else "1 worker prefork -c 2"
    say(f"(b) Celery {layout}, prefetch 1, acks_late, Redis … {load()}")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-settle-"))
    parked = {"BENCH_PARKED_QUEUE": parked_queue(f"{db}_b")} if shared else {}
    app = "bench.parked_celery" if shared else "shop"
    workers = _start_workers(f"{db}_b", queue, opts.two_workers, log_dir, app=app, **parked)
    try:
        celery = step(
            f"{db}_b", "celery", str(opts.batch), str(int(opts.timeout)), flag,
            REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS, CELERY_TASK_DEFAULT_QUEUE=queue,
        )  # fmt: skip
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    celery["load_after"] = load()
    say(f"(b) {celery}")

    checks = {"a": step(f"{db}_a", "check"), "b": step(f"{db}_b", "check")}
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
        _redis_cleanup(
            queues=[parked_queue(f"{db}_a")] + ([] if opts.keep else [parked_queue(f"{db}_b")]),
            namespace=None if opts.keep else f"bench-{db}",
        )
    if not opts.keep:
        for name in (f"{db}_a", f"{db}_b", seed):
            psql(f"DROP DATABASE IF EXISTS {name}")
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

"""What a stretch of work costs the database, Redis and Celery, counted (not timed), in the
Django process doing the work (``bench/order_costs.py``). Everything must run on Django's one
connection in this thread: the PostgreSQL statistics read are this database's.

- **SQL statements**: ``connection.execute_wrapper`` (an ``executemany`` is one round trip).
- **Rows** inserted / updated (HOT among them) / deleted: ``pg_stat_user_tables`` deltas, this
  database only, after ``pg_stat_force_next_flush()`` (the backend flushes its counters when
  it goes idle before the next statement, so the next read sees them: exact).
- **Index entries**: two ways. ``rows_x_indexes``: each table's inserted and non-HOT updated
  rows × its index count (partial indexes counted as if full: an upper bound). ``btree_inserts``:
  exact, from the WAL itself (``pg_walinspect``): B-tree leaf inserts, posting-list inserts and
  page splits (a split carries its new tuple) on this database's relations.
- **WAL bytes**: ``pg_walinspect`` over the window's LSN range, only this database's records
  (a block of ours) and the commit/abort records of the transactions that wrote them: other
  databases on the shared server are left out. Reported without and with full-page images
  (FPIs depend on how recently a checkpoint ran; no CHECKPOINT is forced on the shared server).
  A temporary physical replication slot keeps the WAL until it is read.
- **Database growth**: ``pg_database_size`` delta (page-granular: meaningful over many orders).
- **Redis commands**: counted in redis-py (``Redis.execute_command``, pipelines by their
  commands), split by caller: ``sandbox`` (the gateways' sandboxes, standing in for WeChat's
  servers, not a production cost) and ``ours`` (cache, flash gate, locks, …).
- **Celery tasks**: ``before_task_publish``, by queue (``shop/queues.py``'s workloads). The
  broker is ``memory://`` in this process; ``Published`` keeps each message so the caller can
  run it in process afterwards (eager, counted in a window of its own).
"""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

SLOT = "bench_cap_wal_{pid}"  # one per session: two benches may run side by side
SANDBOX_FILES = ("gateways/ecommerce_sandbox.py", "gateways/sandbox.py", "gateways/sandbox_")
INDEX_WAL_TYPES = ("INSERT_LEAF", "INSERT_POST", "SPLIT_L", "SPLIT_R")


@dataclass
class Message:
    task: str
    queue: str
    args: list
    kwargs: dict
    eta: str | None


@dataclass
class Cost:
    """One window's (or several windows') counts."""

    statements: int = 0
    inserted: int = 0
    updated: int = 0
    hot_updated: int = 0
    deleted: int = 0
    index_rows_x_indexes: int = 0
    btree_inserts: int = 0
    wal_bytes: int = 0
    wal_fpi_bytes: int = 0
    wal_records: int = 0
    db_growth_bytes: int = 0
    redis_ours: int = 0
    redis_sandbox: int = 0
    tasks: Counter = field(default_factory=Counter)
    tables: Counter = field(default_factory=Counter)  # rows written per table

    def add(self, other: Cost) -> None:
        for name, value in vars(other).items():
            if isinstance(value, Counter):
                getattr(self, name).update(value)
            else:
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict:
        out = {k: v for k, v in vars(self).items() if not isinstance(v, Counter)}
        out["tasks"] = dict(sorted(self.tasks.items()))
        out["tables"] = dict(self.tables.most_common())
        return out


class Published:
    """Messages published through ``before_task_publish`` since the last ``take``."""

    def __init__(self, default_queue: str) -> None:
        self.default_queue = default_queue
        self.waiting: list[Message] = []
        self.counts: Counter = Counter()

    def on_publish(self, sender=None, body=None, headers=None, routing_key=None, **kw) -> None:
        args, kwargs = (body[0], body[1]) if isinstance(body, list | tuple) else ([], {})
        queue = routing_key or self.default_queue
        workload = queue.rsplit(".", 1)[-1] if queue.startswith(self.default_queue + ".") else queue
        self.counts[workload] += 1
        self.waiting.append(Message(sender, workload, list(args), dict(kwargs), (headers or {}).get("eta")))

    def take(self) -> list[Message]:
        taken, self.waiting = self.waiting, []
        return taken


class RedisCounter:
    def __init__(self) -> None:
        self.ours = 0
        self.sandbox = 0
        self.on = False

    def count(self, n: int) -> None:
        if not self.on:
            return
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.endswith(SANDBOX_FILES) or "/gateways/sandbox" in name:
                self.sandbox += n
                return
            frame = frame.f_back
        self.ours += n

    def install(self) -> None:
        import redis
        from redis.client import Pipeline

        counter = self
        plain, piped = redis.Redis.execute_command, Pipeline.execute

        def execute_command(self, *args, **options):
            if not isinstance(self, Pipeline):
                counter.count(1)
            return plain(self, *args, **options)

        def execute(self, *args, **kwargs):
            counter.count(len(self.command_stack))
            return piped(self, *args, **kwargs)

        redis.Redis.execute_command = execute_command
        Pipeline.execute = execute


class Meter:
    def __init__(self) -> None:
        from celery.signals import before_task_publish
        from django.conf import settings
        from django.db import connection

        self.connection = connection
        self.redis = RedisCounter()
        self.redis.install()
        self.published = Published(settings.CELERY_TASK_DEFAULT_QUEUE)
        before_task_publish.connect(self.published.on_publish, weak=False)
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
            self.db_oid = cursor.fetchone()[0]
            cursor.execute("SELECT pg_backend_pid()")
            slot = SLOT.format(pid=cursor.fetchone()[0])
            cursor.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [slot])
            if cursor.fetchone() is None:  # temporary: dropped when this session ends
                cursor.execute("SELECT pg_create_physical_replication_slot(%s, true, true)", [slot])
            cursor.execute(
                "SELECT c.relname, count(i.indexrelid) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace LEFT JOIN pg_index i ON i.indrelid = c.oid WHERE c.relkind IN ('r', 'p') "
                "AND n.nspname = 'public' GROUP BY c.relname"
            )
            self.indexes = dict(cursor.fetchall())

    def _snapshot(self) -> dict:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # the next statement reads afresh
            cursor.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
            )
            tables = {name: rest for name, *rest in cursor.fetchall()}
            cursor.execute("SELECT pg_database_size(current_database()), pg_current_wal_flush_lsn()")
            size, lsn = cursor.fetchone()
        return {"tables": tables, "size": size, "lsn": lsn}

    def _wal(self, start: str, end: str) -> tuple[int, int, int, int]:
        """This database's WAL between two LSNs: bytes, FPI bytes, records, B-tree inserts."""
        rel = f"% {1663}/{self.db_oid}/%"  # pg_default tablespace; block_ref "rel 1663/<db>/<rel>"
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT %s::pg_lsn < %s::pg_lsn", [start, end])
            if not cursor.fetchone()[0]:  # nothing written (pg_walinspect refuses an empty range)
                return 0, 0, 0, 0
            cursor.execute(
                "WITH r AS (SELECT * FROM pg_get_wal_records_info(%s, %s)), "
                "ours AS (SELECT DISTINCT xid FROM r WHERE block_ref LIKE %s AND xid <> 0) "
                "SELECT coalesce(sum(record_length), 0), coalesce(sum(fpi_length), 0), count(*), "
                "count(*) FILTER (WHERE resource_manager = 'Btree' AND record_type = ANY(%s)) "
                "FROM r WHERE block_ref LIKE %s OR xid IN (SELECT xid FROM ours)",
                [start, end, rel, list(INDEX_WAL_TYPES), rel],
            )
            return tuple(int(v) for v in cursor.fetchone())

    @contextmanager
    def window(self, into: Cost):
        """Count what the block does into ``into`` (added to what it holds)."""
        statements = [0]

        def wrapper(execute, sql, params, many, context):
            statements[0] += 1
            return execute(sql, params, many, context)

        before = self._snapshot()
        self.published.counts.clear()
        self.redis.ours = self.redis.sandbox = 0
        self.redis.on = True
        try:
            with self.connection.execute_wrapper(wrapper):
                yield into
        finally:
            self.redis.on = False
        after = self._snapshot()
        cost = Cost(statements=statements[0], redis_ours=self.redis.ours, redis_sandbox=self.redis.sandbox)
        cost.tasks.update(self.published.counts)
        for name, (ins, upd, hot, dele) in after["tables"].items():
            b_ins, b_upd, b_hot, b_del = before["tables"].get(name, (0, 0, 0, 0))
            d_ins, d_upd, d_hot, d_del = ins - b_ins, upd - b_upd, hot - b_hot, dele - b_del
            cost.inserted += d_ins
            cost.updated += d_upd
            cost.hot_updated += d_hot
            cost.deleted += d_del
            cost.index_rows_x_indexes += (d_ins + d_upd - d_hot) * self.indexes.get(name, 0)
            if d_ins + d_upd + d_del:
                cost.tables[name] += d_ins + d_upd + d_del
        cost.db_growth_bytes = after["size"] - before["size"]
        cost.wal_bytes, cost.wal_fpi_bytes, cost.wal_records, cost.btree_inserts = self._wal(
            before["lsn"], after["lsn"]
        )
        cost.wal_bytes -= cost.wal_fpi_bytes  # reported apart: without FPIs, and the FPIs
        into.add(cost)

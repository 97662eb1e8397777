"""The purchase path through PgBouncer in transaction mode (docs/deploy.md): the web process
and a real Celery worker both reach PostgreSQL through the pooler, with
``DB_TRANSACTION_POOLER`` on (no SQL-level prepared statements, no server-side cursors), and
the result is the same to the fen. Skipped where Debian's ``pgbouncer`` is not installed
(``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, connections

from shop.queues import all_queues

from .conftest import worker_start, worker_stop
from .test_purchase_path_e2e import purchase_path_settles

pytestmark = pytest.mark.e2e

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

CONFIG = """
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/users.txt
admin_users = {user}
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
ignore_startup_parameters = extra_float_digits,options
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pgbouncer():
    """PgBouncer in transaction mode in front of the test cluster; yields its port."""
    if not os.path.exists(PGBOUNCER):
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    db = settings.DATABASES["default"]
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)  # run as postgres when we are root: it must read its files
    listen = _free_port()
    (folder / "users.txt").write_text(f'"{db["USER"]}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        CONFIG.format(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, listen=listen,
                      dir=folder, user=db["USER"])
    )  # fmt: skip
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [PGBOUNCER, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(folder / "pgbouncer.ini")]
    log_path = folder / "pgbouncer.log"  # its log goes to stderr: written by us, not by its user
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 15
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", listen)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pgbouncer did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield listen
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _transactions_through(port: int, database: str) -> int:
    """PgBouncer's own count of transactions it passed on to ``database``."""
    out = subprocess.run(  # noqa: S603
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", settings.DATABASES["default"]["USER"],
         "-At", "-F", "|", "-c", "SHOW STATS", "pgbouncer"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        fields = line.split("|")
        if fields[0] == database:
            return int(fields[1])  # total_xact_count
    return 0


def test_the_purchase_path_runs_through_pgbouncer_in_transaction_mode(
    live_server, transactional_db, pgbouncer
):
    from shop.celery import app

    database = connection.settings_dict["NAME"]
    queue = f"pgbouncer-{os.getpid()}"
    worker, _ = worker_start(
        db_name=database,
        queue=queue,
        name="pgbouncer",
        env={
            "DATABASE_URL": f"postgres://{settings.DATABASES['default']['USER']}@127.0.0.1:{pgbouncer}/{database}",
            "DB_TRANSACTION_POOLER": "1",
        },
    )
    db = settings.DATABASES["default"]
    saved = {key: db.get(key) for key in ("PORT", "DISABLE_SERVER_SIDE_CURSORS")}
    saved_queue, saved_prepared = settings.CELERY_TASK_DEFAULT_QUEUE, settings.DB_PREPARED_STATEMENTS
    connections.close_all()
    db.update(PORT=str(pgbouncer), DISABLE_SERVER_SIDE_CURSORS=True)  # this process and the live server's
    settings.DB_PREPARED_STATEMENTS = False
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    app.conf.task_always_eager = False
    try:
        assert connection.cursor().connection.info.port == pgbouncer
        purchase_path_settles(live_server.url)
        passed = _transactions_through(pgbouncer, database)
    finally:
        app.conf.task_always_eager = True
        settings.CELERY_TASK_DEFAULT_QUEUE, settings.DB_PREPARED_STATEMENTS = saved_queue, saved_prepared
        connections.close_all()
        db.update(saved)
        worker_stop(worker)
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        client.delete(*all_queues(queue))
    assert passed > 20  # the web requests', this process's and the worker's transactions

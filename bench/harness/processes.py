"""Processes, databases, settings and setup code in a Django process (``bench.harness``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv").exists() else Path(sys.executable).parent
PYTHON, GUNICORN, CELERY = str(BIN / "python"), str(BIN / "gunicorn"), str(BIN / "celery")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LUA = Path(__file__).resolve().parent.parent / "lua"


def run(cmd: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """A command that must succeed, from the repository's root unless ``cwd`` says otherwise."""
    kwargs.setdefault("cwd", ROOT)
    return subprocess.run(cmd, env=env, check=True, text=True, **kwargs)


def psql(sql: str) -> None:
    run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], stdout=subprocess.DEVNULL)


def psql_value(query: str) -> str:
    return run(["psql", f"{PG}/postgres", "-Atc", query], capture_output=True).stdout.strip()


def settle_database() -> None:
    """Before a measured phase: a checkpoint, then no autovacuum worker running (up to a
    minute), so that what the last phase wrote is not cleaned up on the next phase's time."""
    psql("CHECKPOINT")
    deadline = time.monotonic() + 60
    query = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
    while time.monotonic() < deadline:
        if psql_value(query) == "0":
            return
        time.sleep(0.5)


def database_drop(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_create(name: str, *, template: str | None = None, replace: bool = True) -> None:
    """Create ``name`` (a copy of ``template`` if given); drop a leftover of that name first."""
    if replace:
        database_drop(name)
    psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def django_env(
    database: str,
    *,
    settings: str = "shop.settings.base",
    debug: bool = False,
    sandbox: bool = False,
    var_dir: str = "bench-var",
    **extra: str,
) -> dict[str, str]:
    """The environment of a Django process of a bench, on ``database``; ``extra`` on top."""
    var = Path(tempfile.gettempdir()) / var_dir
    (var / "static").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": f"{PG}/{database}",
        "SHOP_VAR_DIR": str(var),
        "DEBUG": "1" if debug else "0",
        "SANDBOX": "1" if sandbox else "0",
        "SECRET_KEY": "bench-only-not-a-secret",  # noqa: S105
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def migrate(env: dict, *, syncdb: bool = False) -> None:
    """``manage.py migrate`` (``--run-syncdb`` also makes the reference app's two tables)."""
    run([PYTHON, "manage.py", "migrate", *(["--run-syncdb"] if syncdb else []), "-v0"], env=env)


def in_django(env: dict, target: str, **kwargs) -> object:
    """Call ``target`` ("package.module:function") with ``kwargs`` in a fresh Django process
    (``python -m bench.in_django``) and return what it returned (through JSON)."""
    module, _, function = target.partition(":")
    out = run(
        [PYTHON, "-m", "bench.in_django", module, function, json.dumps(kwargs)],
        env=env,
        stdout=subprocess.PIPE,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A long-running process in a session of its own (``stop`` ends its whole group)."""
    with log.open("w") as stream:
        return subprocess.Popen(
            cmd, env=env, cwd=ROOT, start_new_session=True, stdout=stream, stderr=subprocess.STDOUT
        )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group ``spawn`` made, SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def celery_workers(
    env: dict, queue: str, layouts: list[tuple[str, str]], log_dir: Path, *, app: str = "shop"
) -> list[subprocess.Popen]:
    """Celery workers on ``queue`` and its workload queues (``shop/queues.py``): one ``prefork
    -c N`` per ``(N, name)``, prefetch 1; given a few seconds to connect, and an error if one
    exited meanwhile."""
    from shop.queues import all_queues

    workers = []
    for concurrency, name in layouts:
        workers.append(
            spawn(
                [PYTHON, "-m", "celery", "-A", app, "worker", "-Q", ",".join(all_queues(queue)),
                 "--pool", "prefork", "-c", concurrency, "--prefetch-multiplier", "1",
                 "--without-gossip", "--without-mingle", "--loglevel", "WARNING", "-n", f"{name}@%h"],
                env,
                log_dir / f"{name}.log",
            )
        )  # fmt: skip
    time.sleep(6)
    if any(worker.poll() is not None for worker in workers):
        for worker in workers:
            stop(worker)
        raise RuntimeError(f"a worker exited early; see {log_dir}")
    return workers

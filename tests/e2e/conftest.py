"""A real Celery worker process consuming from Redis, on the test database.

The traps this avoids (issue 2): the worker is pointed at the *test* database by
name; it consumes a queue of this test run's own (``CELERY_TASK_DEFAULT_QUEUE`` is
per-process in ``shop/settings/test.py``), so stale messages in Redis are never
run; and it is stopped before pytest-django drops the test database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from shop.queues import all_queues

ROOT = Path(__file__).resolve().parents[2]


def _worker_env(db_name: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="shop.settings.base",
        DEBUG="1",
        SANDBOX="1",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db_name}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        CELERY_TASK_ALWAYS_EAGER="0",
        SHOP_VAR_DIR=str(ROOT / "var" / "e2e"),
        # One cache with this process (the e-commerce sandbox keeps WeChat's state there).
        CACHE_KEY_PREFIX=settings.CACHES["default"].get("KEY_PREFIX", ""),
    )
    return env


def worker_start(
    *,
    db_name: str,
    queue: str,
    name: str,
    concurrency: int = 2,
    env: dict[str, str] | None = None,
    consume: list[str] | None = None,
) -> tuple[subprocess.Popen, Path]:
    """Start ``celery worker`` (prefork) on ``db_name`` consuming ``queue`` and its workload
    queues (``shop/queues.py``), or only the queues in ``consume``; wait until it is
    ready and return ``(process, log path)``. The worker leads a process group of its own
    (its prefork children are in it), so a test can SIGKILL the whole worker at once."""
    log_path = ROOT / "var" / f"e2e-worker-{name}-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "shop",
                "worker",
                "-Q",
                ",".join(consume or all_queues(queue)),  # the default queue and every workload's
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                "-n",
                f"e2e-{name}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env={**_worker_env(db_name), "CELERY_TASK_DEFAULT_QUEUE": queue, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_until_ready(process, log_path)
    return process, log_path


def worker_stop(process: subprocess.Popen) -> None:
    """Warm shutdown (running tasks finish), then SIGKILL the group if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker_kill(process)


def worker_kill(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its prefork children (its whole process group): nothing acks."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """Start ``celery worker`` (prefork, 2 processes) on the test database; yield the Popen."""
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    process, _ = worker_start(db_name=db_name, queue=queue, name="session")
    yield process
    worker_stop(process)
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log_path.read_text()[-3000:]}")
        if "ready." in log_path.read_text():
            return
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"celery worker did not start in {timeout} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def real_celery(celery_worker_process, transactional_db):
    """Tasks go through Redis to the worker process instead of running eagerly."""
    from shop.celery import app

    app.conf.task_always_eager = False
    yield celery_worker_process
    app.conf.task_always_eager = True


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll until ``predicate()`` returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")

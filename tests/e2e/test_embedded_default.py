"""The embedded default that ``make run`` starts — SQLite and Celery's filesystem broker, no
server — works end to end: migrate, ``seed_demo``, a purchase through the API paid in the
sandbox by profit sharing (the default ``MERCHANT_FUNDS``: into the demo merchant's frozen
funds), shipped, received, and ``run_sweepers --now`` completing it, settled by a real
worker that reads the filesystem broker: the share ``FINISHED``, then the rest unfrozen. The
rest of the suite runs on PostgreSQL, so the SQLite branches of the code are exercised here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="shop.settings.base",
        DEBUG="1",
        SHOP_VAR_DIR=str(var_dir),
        PYTHONPATH=str(ROOT),
    )
    for name in ("SANDBOX", "SHOP_TEST_CACHE_PREFIX", "MERCHANT_FUNDS", "SANDBOX_ECOMMERCE_NAMESPACE"):
        env.pop(name, None)
    return env


def _manage(env, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def test_a_purchase_settles_on_sqlite_and_the_filesystem_broker(tmp_path):
    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_demo")
    for folder in ("queue", "processed", "control"):
        (tmp_path / "broker" / folder).mkdir(parents=True, exist_ok=True)
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed in finally
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in (tmp_path / "worker.log").read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        flow = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "e2e" / "embedded_flow.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    assert flow.returncode == 0, flow.stderr[-3000:] + (tmp_path / "worker.log").read_text()[-3000:]
    seen = json.loads(flow.stdout.strip().splitlines()[-1])

    assert seen["vendor"] == "sqlite"
    before, after = seen["pending_before"], seen["wallet"]
    assert seen["order_status"] == "completed"
    settled = after["available_fen"] - before["available_fen"]
    assert settled > 0  # the order's rebate, settled by the worker
    assert before["pending_fen"] - after["pending_fen"] == settled
    assert seen["unknown_url"] == [404, "application/json"]
    # Paid by profit sharing, the default: shared, then the rest unfrozen for the merchant.
    assert (seen["merchant_funds_setting"], seen["payment_funds"]) == ("profit_sharing", "shared")
    assert seen["steps"] == {"share": "confirmed", "unfreeze": "confirmed"}  # FINISHED at the gateway
    assert 0 < seen["share_fen"] < seen["part_fen"]
    assert seen["share_fen"] + seen["unfrozen_fen"] == seen["part_fen"]  # no coupon: the part is the sale
    before, now = seen["sandbox_before"], seen["sandbox"]
    assert now["frozen"] == before["frozen"]  # the order's money left the frozen funds …
    assert now["released"] - before["released"] == seen["unfrozen_fen"]  # … the rest to the merchant
    assert seen["order_frozen_fen"] == 0  # and the ledger agrees
    worker_log = (tmp_path / "worker.log").read_text()
    assert "orders_settle_task" in worker_log  # settled by the worker, from the broker
    assert " succeeded in " in worker_log

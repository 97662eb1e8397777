"""Redis stopped mid-run (issue 19, item 7): login degrades, a withdrawal is refused with
503 and ``Retry-After`` and moves nothing, and once Redis is back the same request with the
same ``Idempotency-Key`` withdraws exactly once.

The test starts its own redis-server on a spare port (never the shared one other runs
use), points the cache at it, and stops it halfway.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from django.core.management import call_command
from prometheus_client import REGISTRY

from accounts.tests.factories import UserFactory
from rebates.models import Withdrawal
from rebates.selectors import wallet_get
from rebates.tests.helpers import fund_wallet
from shop.ledger.models import Transaction
from shop.models import IdempotencyKey
from shop.testing.asserts import assert_error

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

LOGIN = "/api/v1/auth/wechat-login"
WITHDRAW = "/api/v1/wallet/withdrawals"


def _spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = _spare_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(settings):
    redis = PrivateRedis()
    redis.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis.url,
            "KEY_PREFIX": "outage-test",
        }
    }
    yield redis
    redis.stop()


def _degraded(scope: str, outcome: str) -> float:
    labels = {"component": "throttle", "scope": scope, "outcome": outcome}
    return REGISTRY.get_sample_value("shop_degraded_total", labels) or 0.0


def _withdraw(client, key: str):
    return client.post(WITHDRAW, {"amount_fen": 1_000}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_redis_down_degrades_login_and_refuses_withdrawals_without_moving_money(private_redis, make_client):
    # given a member with money, and everything working while Redis is up
    member = UserFactory()
    fund_wallet(member, 10_000)
    client = make_client(member)
    assert make_client().post(LOGIN, {"code": "sandbox:outage-1"}, format="json").status_code == 200
    assert _withdraw(client, "up-1").status_code == 201
    balance_before = wallet_get(user_id=member.pk)
    ledger_before = Transaction.objects.count()
    open_before, refused_before = _degraded("login", "fail_open"), _degraded("withdrawal_create", "refused")

    # when Redis stops mid-run
    private_redis.stop()
    login = make_client().post(LOGIN, {"code": "sandbox:outage-2"}, format="json")
    refused = [_withdraw(client, "down-1") for _ in range(2)]

    # then login still works (the throttle fails open, logged and counted) ...
    assert login.status_code == 200, login.content
    assert login.json()["token"]
    assert _degraded("login", "fail_open") == open_before + 1
    # ... and the withdrawal is a 503 with Retry-After that did nothing
    for response in refused:
        assert_error(response, 503, "service_unavailable")
        assert int(response["Retry-After"]) > 0
    assert _degraded("withdrawal_create", "refused") == refused_before + 2
    assert Withdrawal.objects.filter(user=member).count() == 1
    assert not IdempotencyKey.objects.filter(key="down-1").exists()
    assert wallet_get(user_id=member.pk) == balance_before
    assert Transaction.objects.count() == ledger_before
    metrics = make_client().get("/metrics")
    assert b'shop_degraded_total{component="throttle",outcome="fail_open",scope="login"}' in metrics.content

    # when Redis is back, the client sends the same request with the same key (twice)
    private_redis.start()
    first = _withdraw(client, "down-1")
    replay = _withdraw(client, "down-1")

    # then it is done exactly once
    assert first.status_code == 201, first.content
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert Withdrawal.objects.filter(user=member).count() == 2
    call_command("ledger_check")

"""Test settings: only overrides. Tests run on PostgreSQL and Redis on localhost by default."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SANDBOX", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
# Anti-spam throttles count per user id (login: per address, 127.0.0.1) in the shared Redis,
# and every test run starts its ids at 1: keep them out of the way (the test that trips them
# sets its own low rate).
for _scope in (
    "LOGIN",
    "STORE_CREATE",
    "SHARE_LINK_CREATE",
    "STORE_JOIN",
    "LEADER_REGISTER",
    "WEBHOOK_CREATE",
    "ENVELOPE_CLAIM",
    "WITHDRAWAL_CREATE",
    "SHARE_POSTER",
    "SHARE_SCENE",
    "SUBSCRIBE_REPORT",
    "ASSISTANT_MESSAGE",
    "CONVERSATION_REPLY",
):
    os.environ.setdefault(f"THROTTLE_RATE_{_scope}", "100000/minute")
# A queue of this test run's own: end-to-end workers consume only it, never stale messages.
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"test-{os.getpid()}")

from .base import *  # noqa: E402, F403
from .base import CACHES, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("The test suite runs on PostgreSQL (DATABASE_URL=postgres://...).")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests reuse connections within a thread; concurrency helpers close their own.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# A test database of this run's own, so several test runs on one machine never drop
# each other's database (developers and CI share the local PostgreSQL).
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
# A replica alias that mirrors the test database (no database of its own, no router: reads go
# to the primary as everywhere); tests/test_replicas.py points it at a real streaming replica.
DATABASES.setdefault("replica_0", {**DATABASES["default"], "TEST": {"MIRROR": "default"}})
# Cache keys (throttle buckets above all) of this run's own: parallel runs on the shared Redis
# reuse the same small user ids, and a bucket filled by another run would throttle this one.
# Read from the environment so a worker process this run starts shares the prefix.
CACHES["default"]["KEY_PREFIX"] = os.environ.setdefault("SHOP_TEST_CACHE_PREFIX", f"test-{os.getpid()}")
# Most of the suite was written against the old path, where a checkout is paid into the
# platform's own account (its ledger postings, payable and refunds are what those tests
# assert). The profit-sharing tests (tests/test_sharing_*.py, tests/e2e/test_sharing_*.py …)
# set ``settings.MERCHANT_FUNDS = "profit_sharing"`` themselves, and the embedded-default e2e
# test runs the real default (shop.settings.base) in its own processes.
MERCHANT_FUNDS = "platform"

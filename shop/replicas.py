"""Reads that may lag go to a read replica (docs/deploy.md "Read replicas").

Only where ``DATABASE_REPLICA_URLS`` is set: the settings then add the replicas as
``replica_0``, ``replica_1``, … , this router and this middleware; without replicas none of
it is installed and nothing costs anything.

- A read-only view opts in with ``reads_may_lag = True`` (dashboards, member lists, the
  catalog and search, statements): its ``GET`` reads come from a replica. Everything else —
  every other method and view, anything inside a transaction, every task — reads the
  primary. (Django's routers cannot tell a write from the ORM's bookkeeping — assigning a
  related object asks ``db_for_write`` — so "has written" is the request's method, not a
  router hook: a view that writes never opts in.)
- Reading one's own writes: a ``POST``/``PUT``/``PATCH``/``DELETE`` that succeeds pins its
  caller (by the hash of its ``Authorization`` header) to the primary for
  ``REPLICA_PIN_SECONDS``, in the cache; a pinned caller's lag-tolerant reads stay on the
  primary.
- A replica that does not answer is skipped for ``REPLICA_RETRY_SECONDS`` (logged); with
  none left, reads go to the primary.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

logger = logging.getLogger("shop.replicas")

_lag_ok: ContextVar[bool] = ContextVar("shop_reads_may_lag", default=False)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_down_until: dict[str, float] = {}
_turn = itertools.count()


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


def _pin_key(authorization: str) -> str:
    return "replica-pin:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]


def _usable(alias: str) -> bool:
    if _down_until.get(alias, 0) > time.monotonic():
        return False
    try:
        connections[alias].ensure_connection()
    except OperationalError:
        _down_until[alias] = time.monotonic() + settings.REPLICA_RETRY_SECONDS
        logger.warning("replica %s does not answer: reading from the primary for now", alias, exc_info=True)
        return False
    return True


class ReplicaRouter:
    """Sends a lag-tolerant read to a replica that answers, everything else to the primary."""

    def db_for_read(self, model, **hints):
        if not _lag_ok.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        aliases = replica_aliases()
        start = next(_turn)
        for i in range(len(aliases)):
            alias = aliases[(start + i) % len(aliases)]
            if _usable(alias):
                return alias
        return None

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, copied

    def allow_migrate(self, db, app_label, **hints):
        return db == DEFAULT_DB_ALIAS


class ReplicaMiddleware:
    """Per request: lag-tolerant ``GET``s of opted-in views read a replica unless the caller
    is pinned; a write that succeeded pins its caller."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lag_ok = _lag_ok.set(False)
        try:
            response = self.get_response(request)
        finally:
            _lag_ok.reset(lag_ok)
        authorization = request.headers.get("Authorization", "")
        if request.method in WRITES and response.status_code < 400 and authorization:
            cache.set(_pin_key(authorization), 1, settings.REPLICA_PIN_SECONDS)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        if request.method not in ("GET", "HEAD") or not getattr(view_class, "reads_may_lag", False):
            return
        authorization = request.headers.get("Authorization", "")
        if authorization and cache.get(_pin_key(authorization)):
            return  # wrote a moment ago: read its own writes
        _lag_ok.set(True)
        return


def task_started(**kwargs) -> None:
    """Celery ``task_prerun``: a task reads the primary."""
    _lag_ok.set(False)

"""``GET /healthz``: database, cache/broker and worker health, for load balancers and ops."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger("shop.health")


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    cache.set("healthz", "1", 5)
    return "ok" if cache.get("healthz") == "1" else "unreachable"


def _check_broker() -> str:
    from shop.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_worker() -> str:
    """A worker answers the ping; with the embedded broker there is no broadcast, so we
    report the freshness of the heartbeat the beat-driven sweeper task writes instead."""
    from shop.celery import app

    if app.conf.broker_url.startswith("filesystem://"):
        return "ok" if cache.get("worker-heartbeat") or _heartbeat_file_fresh() else "no heartbeat yet"
    replies = app.control.ping(timeout=1.0)
    return "ok" if replies else "no worker answered"


def _heartbeat_file_fresh() -> bool:
    import time

    from django.conf import settings

    path = settings.VAR_DIR / "worker-heartbeat"
    try:
        return time.time() - path.stat().st_mtime < 180
    except OSError:
        return False


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "worker": _check_worker,
}


HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "degraded", "down"]),
        "checks": serializers.DictField(
            child=serializers.CharField(), help_text="database, cache, broker, worker: `ok` or what failed."
        ),
    },
)


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: HEALTH,
            503: OpenApiResponse(HEALTH, description="`down`: the database, cache or broker is unreachable."),
        }
    )
    def get(self, request):
        results: dict[str, str] = {}
        for name, check in CHECKS.items():
            try:
                results[name] = check()
            except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
                logger.warning("health check %s failed: %s", name, exc)
                results[name] = f"error: {exc.__class__.__name__}"
        healthy = all(v == "ok" for k, v in results.items() if k != "worker")
        status = "ok" if healthy and results.get("worker") == "ok" else ("degraded" if healthy else "down")
        return Response({"status": status, "checks": results}, status=200 if healthy else 503)

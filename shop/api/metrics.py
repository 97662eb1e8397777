"""What an operator scrapes at ``GET /metrics`` (Prometheus text format, prometheus_client).

- ``shop_http_requests_total`` and ``shop_http_request_duration_seconds`` by view (the URL
  name, so ids never explode the label set), method and status — from ``MetricsMiddleware``.
- ``shop_celery_tasks_total`` and ``shop_celery_task_duration_seconds`` by task and
  outcome (``success``, ``failure``, ``retry``) — from Celery's signals, in the worker.
- ``shop_celery_queue_length`` by queue — read from Redis (``LLEN``) at scrape time, so it
  is the depth now, whichever process answers.

Several processes (gunicorn workers, Celery children) each count their own: set
``PROMETHEUS_MULTIPROC_DIR`` to a directory they share and ``/metrics`` adds them all up
(prometheus_client's multiprocess mode); without it a scrape sees the answering process.

Who may scrape: a request from the loopback address that did not come through a proxy
(no ``X-Forwarded-For``), or one with ``Authorization: Bearer <METRICS_TOKEN>``. Anyone
else gets 404, as for an unknown URL.
"""

from __future__ import annotations

import hmac
import logging
import os
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger("shop.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)  # seconds; the hard limit is 300 s

HTTP_REQUESTS = Counter(
    "shop_http_requests_total",
    "HTTP requests answered, by view, method and status.",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "Time from the request entering Django to the response leaving it.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
DEGRADED = Counter(
    "shop_degraded_total",
    "Requests answered in a degraded mode because a dependency was down, by component "
    "(e.g. throttle), scope and outcome (fail_open: let through; refused: 503).",
    ["component", "scope", "outcome"],
)
TASKS = Counter("shop_celery_tasks_total", "Celery tasks run, by task and outcome.", ["task", "outcome"])
TASK_LATENCY = Histogram(
    "shop_celery_task_duration_seconds",
    "Celery task run time, by task and outcome.",
    ["task", "outcome"],
    buckets=TASK_BUCKETS,
)
LOOPBACK = {"127.0.0.1", "::1"}
# kombu's Redis transport keeps each priority level of a queue in its own list.
_KOMBU_PRIORITY_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)


def view_label(request) -> str:
    """The URL name of the view that answered, or the one a middleware answered for (it sets
    ``request.metrics_view``: orders/api/flash_early.py)."""
    answered_for = getattr(request, "metrics_view", None)
    if answered_for is not None:
        return answered_for
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name == "not-found":  # shop/urls.py's catch-all JSON 404
        return "<unmatched>"
    return match.view_name or match.route or "<unnamed>"


class MetricsMiddleware:
    """Counts and times every request (outermost but one, after the request id)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        labels = (view_label(request), request.method, str(response.status_code))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response


# --- Celery ---------------------------------------------------------------------------
_started: dict[str, float] = {}


def _on_prerun(task_id=None, **kwargs) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _record(task_id: str | None, task_name: str, outcome: str) -> None:
    started = _started.pop(task_id, None) if task_id else None
    TASKS.labels(task_name, outcome).inc()
    if started is not None:
        TASK_LATENCY.labels(task_name, outcome).observe(time.perf_counter() - started)


def _on_postrun(task_id=None, task=None, state=None, **kwargs) -> None:
    outcome = {"SUCCESS": "success", "RETRY": "retry"}.get(state or "", "failure")
    _record(task_id, getattr(task, "name", "?"), outcome)


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="shop-metrics-prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="shop-metrics-postrun")


# --- Queue depth, read at scrape time -------------------------------------------------


def _queues() -> list[str]:
    ours = [q.name for q in getattr(settings, "CELERY_TASK_QUEUES", None) or []]
    return list(
        dict.fromkeys([settings.CELERY_TASK_DEFAULT_QUEUE, *ours, *getattr(settings, "METRICS_QUEUES", [])])
    )


def priority_lists(queue: str) -> list[str]:
    """The Redis lists kombu keeps one queue's messages in: one per priority level."""
    return [queue, *(f"{queue}{_KOMBU_PRIORITY_SEP}{step}" for step in _KOMBU_PRIORITY_STEPS)]


def queue_length(client, queue: str) -> int:
    """Messages waiting in one queue of the Redis broker: all its priority lists."""
    with client.pipeline(transaction=False) as pipe:
        for name in priority_lists(queue):
            pipe.llen(name)
        return sum(pipe.execute())


def queue_lengths() -> dict[str, int]:
    """``LLEN`` of each queue (all its priority lists) in the Redis broker; {} on another broker."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {}
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return {queue: queue_length(client, queue) for queue in _queues()}
    finally:
        client.close()


class QueueDepthCollector:
    def collect(self):
        gauge = GaugeMetricFamily(
            "shop_celery_queue_length", "Messages waiting in the broker, by queue.", labels=["queue"]
        )
        up = GaugeMetricFamily("shop_celery_broker_up", "1 when the broker answered the queue-depth read.")
        try:
            for queue, length in queue_lengths().items():
                gauge.add_metric([queue], length)
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the broker down, it never fails
            logger.warning("queue depth read failed: %s", exc)
            up.add_metric([], 0)
        yield gauge
        yield up


_QUEUE_COLLECTOR = QueueDepthCollector()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _may_scrape(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    from_loopback = request.META.get("REMOTE_ADDR") in LOOPBACK and "HTTP_X_FORWARDED_FOR" not in request.META
    return from_loopback and getattr(settings, "METRICS_ALLOW_LOOPBACK", True)


def metrics_view(request):
    """``GET /metrics``: Prometheus text; 404 in the API's error shape for anyone not allowed."""
    if not _may_scrape(request):
        return JsonResponse({"error": {"code": "not_found", "message": "No such URL."}}, status=404)
    registry = _registry()
    body = generate_latest(registry)
    extra = CollectorRegistry(auto_describe=True)
    extra.register(_QUEUE_COLLECTOR)
    body += generate_latest(extra)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

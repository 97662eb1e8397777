"""``GET /metrics``: what an operator scrapes, and who may scrape it."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{name}{{{wanted}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _scrape(**extra) -> str:
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_requests_are_counted_and_timed_by_view_and_status(api_client):
    before = _scrape()
    labels = {"view": "healthz", "method": "GET", "status": "200"}

    api_client.get("/healthz")
    api_client.get("/healthz")
    api_client.get("/api/v1/wallet")  # no token: 401

    after = _scrape()
    assert (
        _value(after, "shop_http_requests_total", **labels)
        == _value(before, "shop_http_requests_total", **labels) + 2
    )
    assert _value(after, "shop_http_request_duration_seconds_count", **labels) >= 2
    assert _value(after, "shop_http_requests_total", view="wallet", method="GET", status="401") >= 1


def test_unknown_urls_share_one_label_so_ids_cannot_explode_the_series(api_client):
    for n in range(3):
        api_client.get(f"/no/such/{uuid.uuid4()}/{n}")

    text = _scrape()
    assert _value(text, "shop_http_requests_total", view="<unmatched>", method="GET", status="404") >= 3
    assert "/no/such/" not in text


def test_celery_tasks_are_counted_by_outcome_with_their_latency():
    from shop.tasks import sweepers_run_task

    before = _scrape()
    sweepers_run_task.delay()  # eager in tests: the same signals a worker sends

    after = _scrape()
    labels = {"task": "shop.tasks.sweepers_run_task", "outcome": "success"}
    assert (
        _value(after, "shop_celery_tasks_total", **labels)
        == _value(before, "shop_celery_tasks_total", **labels) + 1
    )
    assert _value(after, "shop_celery_task_duration_seconds_count", **labels) >= 1


def test_queue_depth_is_read_from_redis_at_scrape_time(settings):
    import redis

    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.METRICS_QUEUES = [queue]
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.rpush(queue, "a", "b", "c")
    client.rpush(f"{queue}\x06\x163", "d")  # a priority-3 message of the same queue
    try:
        text = _scrape()
    finally:
        client.delete(queue, f"{queue}\x06\x163")

    assert _value(text, "shop_celery_queue_length", queue=queue) == 4
    assert _value(text, "shop_celery_broker_up") == 1


def test_a_broker_that_does_not_answer_is_reported_not_raised(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    text = _scrape()

    assert _value(text, "shop_celery_broker_up") == 0


def test_only_loopback_without_a_proxy_or_the_token_may_scrape(settings):
    settings.METRICS_TOKEN = "scrape-secret"

    assert Client(REMOTE_ADDR="203.0.113.5").get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404
    wrong = Client(REMOTE_ADDR="203.0.113.5").get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 404
    assert wrong.json() == {"error": {"code": "not_found", "message": "No such URL."}}
    right = Client(REMOTE_ADDR="203.0.113.5").get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert right.status_code == 200
    assert Client().get("/metrics").status_code == 200


def test_loopback_can_be_refused_too_when_a_proxy_on_the_host_hides_addresses(settings):
    settings.METRICS_ALLOW_LOOPBACK = False
    settings.METRICS_TOKEN = ""

    assert Client().get("/metrics").status_code == 404


def test_metrics_are_not_an_api_operation(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()

    assert "/metrics" not in schema["paths"]

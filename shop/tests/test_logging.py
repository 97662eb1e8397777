"""Structured logs: one JSON object a line with the request id, and the task id in a task."""

from __future__ import annotations

import json
import logging

import pytest
from celery import shared_task

from shop.api.logging import JsonFormatter, _on_before_publish
from shop.api.request_id import request_id_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def lines():
    """Every record that reaches the root logger, formatted as the console handler would."""
    formatter = JsonFormatter()
    out: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record):
            out.append(json.loads(formatter.format(record)))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    yield out
    root.removeHandler(handler)


@pytest.fixture
def request_warnings():
    """Django's 4xx lines on, as ``LOG_LEVEL_REQUESTS=WARNING`` would have them."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def test_every_line_of_a_request_carries_its_id_django_s_own_included(api_client, lines, request_warnings):
    api_client.get("/api/v1/stores/1", HTTP_X_REQUEST_ID="trace-42")  # no token: django.request logs a 401

    mine = [line for line in lines if line["request_id"] == "trace-42"]
    assert any(line["logger"] == "django.request" for line in mine), lines
    assert all({"ts", "level", "logger", "message", "request_id"} <= set(line) for line in lines)


def test_a_4xx_answer_is_not_logged_by_default(api_client, lines):
    # A sold-out crowd is thousands of 409s a second: counted in /metrics, not logged.
    api_client.get("/api/v1/stores/1", HTTP_X_REQUEST_ID="trace-43")

    assert not [line for line in lines if line["request_id"] == "trace-43"], lines


def test_outside_a_request_the_request_id_is_a_dash(lines):
    logging.getLogger("shop.test").warning("hello %s", "world", extra={"order_id": 7})

    line = lines[-1]
    assert (line["message"], line["request_id"], line["order_id"]) == ("hello world", "-", 7)
    assert "task_id" not in line


@shared_task(name="shop.tests.log_something")
def log_something() -> None:
    logging.getLogger("shop.test").info("inside the task")


def test_every_line_of_a_task_carries_the_task_id_and_name(lines):
    result = log_something.apply(task_id="task-123")

    assert result.successful()
    line = next(line for line in lines if line["message"] == "inside the task")
    assert (line["task_id"], line["task_name"]) == ("task-123", "shop.tests.log_something")
    logging.getLogger("shop.test").info("after the task")
    assert "task_id" not in lines[-1]


def test_a_task_enqueued_in_a_request_carries_the_request_id(lines):
    headers: dict = {}
    request_id_set("req-from-api")
    try:
        _on_before_publish(headers=headers)
    finally:
        request_id_set("-")
    assert headers == {"shop_request_id": "req-from-api"}

    log_something.apply(task_id="task-456", headers=headers)

    line = next(line for line in lines if line["message"] == "inside the task")
    assert (line["task_id"], line["request_id"]) == ("task-456", "req-from-api")


def test_an_exception_is_one_line_with_its_traceback(lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("shop.test").exception("failed")

    formatted = JsonFormatter().format(logging.makeLogRecord({"msg": "x", "exc_info": None}))
    assert "\n" not in formatted
    assert "ValueError: boom" in lines[-1]["exc"]

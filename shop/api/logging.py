"""Structured JSON logs: one object a line, each carrying the request id and, inside a
Celery task, the task's id and name (and the id of the request that enqueued it).

- Every ``LogRecord`` is stamped at creation (a record factory, installed at start-up by
  ``ShopConfig.ready``), so every handler sees the ids, also pytest's and Celery's own.
- ``X-Request-ID`` (``request_id.py``) is set for the whole request, including the lines
  Django writes after the middleware chain (``django.request``'s 4xx/5xx lines).
- A task enqueued during a request carries that request's id in a message header
  (``shop_request_id``), so a shopper's call can be followed into the worker.

``LOG_FORMAT=plain`` gives the old one-line text format for a developer's terminal.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from .request_id import current_request_id, request_id_set

REQUEST_ID_HEADER = "shop_request_id"
_task: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("task", default=None)
# Attributes every LogRecord has; anything else on a record was passed with ``extra=`` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_OURS = {"request_id", "task_id", "task_name"}


def current_task() -> tuple[str, str] | None:
    return _task.get()


def install_record_factory() -> None:
    """Stamp ``request_id``, ``task_id`` and ``task_name`` on every record (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_shop_stamping", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id()
        task = _task.get()
        record.task_id, record.task_name = task if task else ("-", "-")
        return record

    factory._shop_stamping = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "request_id", "task_id"?, "task_name"?, "exc"?, …extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        task_id = getattr(record, "task_id", "-")
        if task_id != "-":
            line["task_id"] = task_id
            line["task_name"] = getattr(record, "task_name", "-")
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _OURS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# --- Celery: task ids on every line of a task ------------------------------------------


def task_log_context_enter(*, task_id: str, task_name: str, request_id: str | None) -> None:
    _task.set((task_id or "-", task_name or "-"))
    request_id_set(request_id or "-")


def task_log_context_exit() -> None:
    _task.set(None)
    request_id_set("-")


def _on_before_publish(headers=None, **kwargs) -> None:
    rid = current_request_id()
    if headers is not None and rid != "-":
        headers.setdefault(REQUEST_ID_HEADER, rid)


def _on_task_prerun(task_id=None, task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    rid = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    task_log_context_enter(task_id=task_id, task_name=getattr(task, "name", "-"), request_id=rid)


def _on_task_postrun(**kwargs) -> None:
    task_log_context_exit()


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(_on_before_publish, weak=False, dispatch_uid="shop-log-publish")
    signals.task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="shop-log-prerun")
    signals.task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="shop-log-postrun")

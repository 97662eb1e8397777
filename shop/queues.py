"""Celery queues per workload (docs/operations.md "Workers and queues").

Every task names its workload (``@shared_task(workload=...)``) and goes to that workload's
queue, ``<CELERY_TASK_DEFAULT_QUEUE>.<workload>``, so a backlog of one kind never delays
another: a sale day's settlement backlog does not hold up a payment callback's follow-up.

- ``payments``: what follows a payment or moves a payer's money: refunds, closing a
  payment at the gateway, payouts, shipping reports to WeChat, and the sweepers' minute tick
  (unpaid orders time out there);
- ``settlement``: settling orders, profit sharing's gateway steps;
- ``notifications``: webhooks (and messages to users);
- ``bulk``: reconciliation with the gateway's bills, handling fees, issuing a campaign's coupons.

Within a queue, a task's ``queue_priority`` orders the urgent before the routine (Redis: 0
first, then 3, 6, 9). A worker started without ``-Q`` consumes every queue (the embedded default's one
worker); in production each workload has its own workers (Procfile.dev, compose).

No Django import here: the settings build their queue list from it.
"""

from __future__ import annotations

WORKLOADS = ("payments", "settlement", "notifications", "bulk")

URGENT, ROUTINE, BACKGROUND = 0, 3, 6  # Redis priorities: lower first


def workload_queue(default_queue: str, workload: str) -> str:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: one of {', '.join(WORKLOADS)}")
    return f"{default_queue}.{workload}"


def all_queues(default_queue: str) -> list[str]:
    """The default queue (tasks of no workload: tests' own, messages from older code) and
    one per workload: what a worker for everything consumes (``-Q`` takes them joined by
    commas)."""
    return [default_queue, *(workload_queue(default_queue, w) for w in WORKLOADS)]


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router: a task's ``workload`` attribute picks its queue, its ``queue_priority``
    its place in that queue."""
    workload = getattr(task, "workload", None)
    if workload is None:
        return None
    from django.conf import settings

    route = {"queue": workload_queue(settings.CELERY_TASK_DEFAULT_QUEUE, workload)}
    priority = getattr(task, "queue_priority", None)
    if priority is not None:
        route["priority"] = priority
    return route

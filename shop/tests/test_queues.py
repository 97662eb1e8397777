"""Every task has a workload, and the router sends it to that workload's queue (shop/queues.py).
The real workers' side is tests/e2e/test_queues.py."""

from __future__ import annotations

import pytest
from django.conf import settings

from shop.celery import app
from shop.queues import WORKLOADS, all_queues, route_task, workload_queue

APPS = ("shop.", "accounts.", "products.", "merchants.", "groupstore.", "orders.", "rebates.", "demo.")


def _our_tasks():
    app.loader.import_default_modules()
    return {
        name: task
        for name, task in app.tasks.items()
        if name.startswith(APPS) and ".tests." not in name and ".tests" not in task.__module__
    }


def test_every_task_of_ours_names_its_workload():
    tasks = _our_tasks()
    assert len(tasks) >= 12
    nameless = sorted(n for n, task in tasks.items() if getattr(task, "workload", None) not in WORKLOADS)
    assert nameless == [], "give these tasks workload=... (shop/queues.py)"


@pytest.mark.parametrize(
    ("task_name", "workload", "priority"),
    [
        ("shop.payments.tasks.refund_send_task", "payments", 0),
        ("shop.payments.payouts.payout_poll_task", "payments", 6),
        ("rebates.tasks.orders_settle_task", "settlement", 3),
        ("shop.notifications.tasks.webhook_deliver_task", "notifications", 3),
        ("shop.payments.tasks.bill_import_run_task", "bulk", 3),
    ],
)
def test_the_router_sends_a_task_to_its_workload_s_queue_with_its_priority(task_name, workload, priority):
    task = _our_tasks()[task_name]
    route = app.amqp.router.route({}, task_name, (1,), {}, task_type=task)
    assert route["queue"].name == f"{settings.CELERY_TASK_DEFAULT_QUEUE}.{workload}"
    assert route["priority"] == priority


def test_a_task_without_a_workload_keeps_the_default_queue():
    assert route_task("x", (), {}, {}, task=None) is None
    with pytest.raises(ValueError, match="unknown workload"):
        workload_queue("shop", "everything")


def test_each_queue_has_its_own_routing_key_so_no_message_is_copied_to_two_queues():
    queues = app.conf.task_queues
    assert [q.name for q in queues] == all_queues(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert len({q.routing_key for q in queues}) == len(queues)
    assert all(q.routing_key == q.name == q.exchange.name for q in queues)

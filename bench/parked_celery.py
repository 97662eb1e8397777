"""The Celery app of the settlement bench's processes when orders are paid by profit sharing
(``bench/settlement.py --funds profit_sharing``): the project's app, with the funds steps'
sends routed to a queue of their own (``BENCH_PARKED_QUEUE``) that no worker of the
settlement phase consumes. Settlement is measured alone; ``bench/shares_drain.py`` then
drains exactly the messages settlement enqueued, from that queue.

    celery -A bench.parked_celery worker …
"""

from __future__ import annotations

import os

from shop.celery import app

__all__ = ["app", "park_funds_steps"]


def park_funds_steps(queue: str) -> None:
    """Route ``funds_steps_send_task`` (its ``delay`` after settlement's commit) to ``queue``."""
    app.conf.task_routes = {"shop.payments.tasks.funds_steps_send_task": {"queue": queue}}


if os.environ.get("BENCH_PARKED_QUEUE"):
    park_funds_steps(os.environ["BENCH_PARKED_QUEUE"])

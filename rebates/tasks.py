from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from shop.queues import ROUTINE


@shared_task(
    workload="settlement",
    queue_priority=ROUTINE,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def orders_settle_task(order_ids: list[int]) -> int:
    """Settle a bounded batch of completed orders (idempotent; see ``orders_settle``)."""
    from rebates.services.settlement import orders_settle

    return orders_settle(order_ids=[int(i) for i in order_ids])


@shared_task(
    workload="notifications",
    queue_priority=ROUTINE,
    acks_late=True,
    reject_on_worker_lost=True,  # bounded: one settlement batch's payees
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
    ignore_result=True,
)
def settlement_run_notify_task(run_id: int) -> int:
    """Tell the payees of a committed settlement batch (idempotent: every notice has a dedupe key)."""
    from rebates.services.settlement_notices import settlement_run_notify

    return settlement_run_notify(run_id=run_id)

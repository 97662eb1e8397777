from __future__ import annotations

from celery import shared_task

from shop.queues import ROUTINE


@shared_task(
    workload="notifications",
    queue_priority=ROUTINE,
    acks_late=True,  # a lost message would lose an event: redeliver instead
    reject_on_worker_lost=True,  # one bounded HTTP request per task (LIMITS.md)
    ignore_result=True,
)
def webhook_deliver_task(delivery_id: int) -> str:
    """Attempt one webhook delivery. Safe to run any number of times: an attempt is
    claimed by a conditional update, so a delivered or claimed delivery is left alone."""
    from shop.notifications.services import webhook_delivery_attempt

    return webhook_delivery_attempt(delivery_id=delivery_id)

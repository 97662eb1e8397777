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


@shared_task(
    bind=True,
    workload="notifications",
    queue_priority=ROUTINE,
    acks_late=True,  # a lost message would lose the user's notice: redeliver instead
    reject_on_worker_lost=True,  # one bounded send (and one token fetch) per task
    ignore_result=True,
    max_retries=None,  # bounded by SUBSCRIBE_MAX_ATTEMPTS, counted on the row
)
def subscribe_message_send_task(self, message_id: int) -> str:
    """Attempt one WeChat subscribe message. Safe to run any number of times: an attempt is
    claimed by a conditional update, so a sent (or claimed) message is left alone. Network
    trouble is retried by Celery after the row's exponential backoff."""
    from shop.notifications.subscribe import SubscribeRetryLater, subscribe_message_attempt

    try:
        return subscribe_message_attempt(message_id=message_id)
    except SubscribeRetryLater as exc:
        raise self.retry(countdown=exc.delay.total_seconds()) from exc

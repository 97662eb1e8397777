from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    acks_late=True,  # a lost refund would strand a leaving merchant's money: redeliver instead
    reject_on_worker_lost=True,  # bounded work: one gateway call and one short transaction
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=10,
)
def deposit_refund_send_task(refund_id: int) -> None:
    """Send one deposit refund to the gateway. Safe to run any number of times; the
    sweeper sends anything this task did not."""
    from merchants.services.deposits import deposit_refund_send

    deposit_refund_send(refund_id=refund_id)

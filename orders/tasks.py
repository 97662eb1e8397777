"""Orders' Celery tasks: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from shop.queues import ROUTINE


@shared_task(
    workload="bulk",  # a store's members, in batches (shop/queues.py)
    queue_priority=ROUTINE,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def coupon_campaign_issue_task(campaign_id: int) -> int:
    """Issue a launched campaign's coupons in batches (idempotent; the sweeper catches up)."""
    from orders.services.coupons import coupon_campaign_issue_all

    return coupon_campaign_issue_all(campaign_id=int(campaign_id))

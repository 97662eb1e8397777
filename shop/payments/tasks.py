"""Thin tasks over the payments services: ids in, idempotent, safe to run any number of times."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from shop.queues import BACKGROUND, ROUTINE, URGENT

from .gateways.base import GatewayError


@shared_task(
    workload="payments",
    queue_priority=URGENT,
    acks_late=True,  # a lost refund strands a payer's money: redeliver instead
    reject_on_worker_lost=True,  # bounded work: one gateway call and one short transaction
    autoretry_for=(OperationalError,),  # gateway trouble is retried by the sweeper, not here
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=10,
)
def refund_send_task(refund_id: int) -> None:
    """Send one refund to the gateway. The sweeper sends anything this task did not."""
    from .refunds import refund_send

    refund_send(refund_id=refund_id)


@shared_task(
    workload="payments",
    queue_priority=URGENT,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(GatewayError, OperationalError),  # only transient gateway errors are raised
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=10,
)
def payment_close_at_gateway_task(payment_id: int) -> None:
    """Make a closed payment unpayable at the gateway too (after its order was cancelled)."""
    from .services import payment_close_at_gateway

    payment_close_at_gateway(payment_id=payment_id)


@shared_task(
    workload="payments",
    queue_priority=BACKGROUND,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(GatewayError, OperationalError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=12,
)
def payment_upload_shipping_task(
    payment_id: int,
    carrier: str,
    tracking_no: str,
    item_desc: str,
    order_id: int | None = None,
    pickup: bool = False,
) -> None:
    """Report a shipment to WeChat (it holds mini-program goods' money until then).
    Uploading again is accepted by WeChat as a correction, so a rerun is harmless."""
    from .services import payment_upload_shipping

    payment_upload_shipping(
        payment_id=payment_id,
        carrier=carrier,
        tracking_no=tracking_no,
        item_desc=item_desc,
        order_id=order_id,
        pickup=pickup,
    )


@shared_task(
    workload="bulk",
    queue_priority=ROUTINE,
    acks_late=True,  # a lost run would leave the bill "running" for an hour: redeliver instead
    reject_on_worker_lost=True,  # a rerun replaces the staged lines and adds no case twice
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=5,
)
def bill_import_run_task(import_id: int, now: str | None = None) -> None:
    """Fetch and match one claimed bill (the reconciliation sweeper claims it), as of the
    sweep's ``now`` (ISO 8601), so a retry time is counted from the sweep's clock."""
    from django.utils.dateparse import parse_datetime

    from .reconciliation import bill_import_run

    bill_import_run(import_id=import_id, now=parse_datetime(now) if now else None)


@shared_task(
    workload="settlement",
    queue_priority=ROUTINE,
    acks_late=True,  # a lost step delays a merchant's money: redeliver instead
    reject_on_worker_lost=True,  # bounded: one merchant's steps, claimed and sent in batches
    autoretry_for=(OperationalError,),  # gateway trouble is handled per step (backoff, sweeper)
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=10,
)
def funds_steps_send_task(step_ids: list[int]) -> None:
    """Send (or poll) one merchant's gateway steps, in batches at its rate; each step is
    claimed first, so a redelivered or duplicate message sends nothing twice. Also what the
    delayed polls and retries of a batch are enqueued as (one message per batch)."""
    from .steps import funds_steps_send

    funds_steps_send(step_ids=step_ids)


@shared_task(
    workload="settlement",
    queue_priority=ROUTINE,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    max_retries=10,
)
def funds_step_run_task(step_id: int) -> None:
    """One step's delayed poll, as enqueued before steps ran in batches (messages already in
    the queue at a deploy still run); new code enqueues ``funds_steps_send_task``."""
    from .steps import funds_steps_send

    funds_steps_send(step_ids=[step_id])


@shared_task(
    workload="bulk",
    queue_priority=BACKGROUND,
    acks_late=True,  # a lost run leaves the day's fees unbooked: redeliver instead
    reject_on_worker_lost=True,  # idempotent: each line's fee is recorded and booked once
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=5,
)
def bill_fees_book_task(import_id: int) -> None:
    """Book the handling fees of a matched trade bill (shop/payments/gateway_fees.py), after
    its reconciliation, in the background: a million lines' fees are not the matching's time."""
    from .gateway_fees import bill_fees_book
    from .models import BillImport

    bill = BillImport.objects.filter(pk=import_id, status=BillImport.Status.DONE).first()
    if bill is not None:
        bill_fees_book(bill)

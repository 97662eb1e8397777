"""Queues per workload (shop/queues.py), with real workers through Redis: a sale day's
settlement backlog does not delay what follows a payment."""

from __future__ import annotations

import os
import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from accounts.tests.factories import UserFactory
from rebates.tasks import orders_settle_task
from shop.api.metrics import queue_length
from shop.payments.models import Payment
from shop.payments.tasks import payment_close_at_gateway_task
from shop.queues import all_queues, workload_queue

from .conftest import wait_for, worker_start, worker_stop

pytestmark = pytest.mark.e2e

BACKLOG = 20_000


@pytest.fixture
def own_queues(settings):
    """Queues of this test alone (the session's worker consumes the session's)."""
    default = f"queues-{os.getpid()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = default
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield default
    for queue in all_queues(default):
        client.delete(queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9)))


def test_a_payment_follow_up_runs_within_2_s_behind_20000_settlement_tasks(transactional_db, own_queues):
    from shop.celery import app

    db_name = connection.settings_dict["NAME"]
    payment = Payment.objects.create(
        purpose="order_checkout", payer=UserFactory(), amount_fen=100, gateway="sandbox",
        out_trade_no="QUEUES1", description="队列",
    )  # fmt: skip
    settlement = workload_queue(own_queues, "settlement")
    app.conf.task_always_eager = False
    workers = []
    try:
        for workload in ("settlement", "payments"):
            process, log = worker_start(
                db_name=db_name,
                queue=own_queues,
                name=f"queues-{workload}",
                concurrency=1,
                consume=[workload_queue(own_queues, workload)],
            )
            workers.append((process, log))
        started = time.monotonic()
        with app.producer_or_acquire() as producer:  # one connection for the lot
            for _ in range(BACKLOG):
                orders_settle_task.apply_async(([],), producer=producer)  # routed: settlement queue
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        backlog = queue_length(client, settlement)
        assert backlog >= BACKLOG // 2, backlog  # the settlement worker has only begun
        enqueue_s = time.monotonic() - started

        sent = time.monotonic()
        result = payment_close_at_gateway_task.delay(payment.pk)
        payments_log = workers[1][1]
        wait_for(
            lambda: f"[{result.id}] succeeded" in payments_log.read_text(),
            timeout=10,
            interval=0.02,
            what="the payment follow-up",
        )
        waited = time.monotonic() - sent
        still_queued = queue_length(client, settlement)
    finally:
        app.conf.task_always_eager = True
        for process, _ in workers:
            worker_stop(process)

    figures = f"{BACKLOG} settlement tasks enqueued in {enqueue_s:.1f} s; the follow-up ran in {waited:.3f} s"
    assert waited < 2.0, figures
    assert still_queued > BACKLOG // 2  # it did not wait for the backlog: most of it is still there

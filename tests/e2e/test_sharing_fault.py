"""Issue 13's fault test for profit sharing: the worker is SIGKILLed (parent and prefork
children) between the shares and the unfreezes; a new worker and the steps' sweeper take
over, and afterwards every order was shared exactly once and released exactly once — at the
(sandbox) gateway and in the ledger — and ``ledger_check`` passes.

Why: each step's gateway number is derived from the order (``S<order>``, ``U<order>``), so a
resend is applied once by WeChat; a step is claimed with a lease before it is sent, so a
killed sender's step comes back to the sweeper when the lease ends; confirmation is a
compare-and-set and its posting is keyed. Tasks are ``acks_late`` + ``reject_on_worker_lost``.

Both workers run with a short claim lease (``FUNDS_STEP_LEASE_S``, ``LEASE_S`` here; 60 s in
production): what the test proves is that a killed sender's claimed steps come back once
the lease ends, not how long a production lease is — so it waits seconds, not a minute.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import timedelta
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from orders.tests.helpers import sandbox_pay
from rebates.tasks import orders_settle_task
from shop.ledger.models import Transaction
from shop.payments.gateways.ecommerce_sandbox import SandboxEcommerceGateway
from shop.payments.models import FundsStep
from shop.payments.steps import funds_steps_sweep
from shop.payments.tasks import funds_steps_send_task
from tests.profit_sharing import complete, two_merchant_checkout

from .conftest import wait_for, worker_kill, worker_start, worker_stop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAYMENTS = 6  # 12 orders, 2 merchants each payment
LEASE_S = "4"  # the workers' claim lease (FUNDS_STEP_LEASE_S): a killed sender's steps return after it


@pytest.fixture
def sharing_queue():
    """A queue of this test's own: the test process's sends are routed to it below."""
    from shop.celery import app

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-sharing-fault"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    app.conf.task_always_eager = False
    yield queue
    app.conf.task_always_eager = True
    client.delete(queue)


def _routed(queue: str) -> ExitStack:
    stack = ExitStack()
    stack.enter_context(
        mock.patch.object(
            funds_steps_send_task, "delay", lambda ids: funds_steps_send_task.apply_async((ids,), queue=queue)
        )
    )
    stack.enter_context(
        mock.patch.object(
            orders_settle_task, "delay", lambda ids: orders_settle_task.apply_async((ids,), queue=queue)
        )
    )
    return stack


def test_killing_the_worker_between_share_and_unfreeze_shares_and_releases_each_order_once(
    sharing_queue, settings
):
    settings.MERCHANT_FUNDS = "profit_sharing"
    settings.SANDBOX_ECOMMERCE_NAMESPACE = ""  # the worker's (default) namespace
    gateway = SandboxEcommerceGateway()
    gateway.control.processing_polls(2)
    db_name = connection.settings_dict["NAME"]
    key = f"fault-{uuid.uuid4().hex}"
    try:
        with _routed(sharing_queue):
            orders = []
            for index in range(PAYMENTS):
                result, skus, _, _ = two_merchant_checkout(coupon_fen=0, sub_mchid_key=f"{key}-{index}")
                sandbox_pay(result.payment)
                orders += result.orders
            subs = {o.pk: p for o in orders for p in [o.merchant.sub_mchid]}
            first, first_log = worker_start(
                db_name=db_name,
                queue=sharing_queue,
                name="sharing-doomed",
                env={"FUNDS_STEP_LEASE_S": LEASE_S},
            )
            try:
                for order in orders:
                    complete(order)  # each completion's settlement goes to the worker

                # killed once some share is FINISHED and some unfreeze is not yet confirmed
                def between():
                    shares = FundsStep.objects.filter(kind="share", status="confirmed").count()
                    unfrozen = FundsStep.objects.filter(kind="unfreeze", status="confirmed").count()
                    return shares > 0 and unfrozen < len(orders)

                wait_for(between, timeout=90, interval=0.05, what=f"a share finished ({first_log})")
            finally:
                worker_kill(first)

            second, second_log = worker_start(
                db_name=db_name,
                queue=sharing_queue,
                name="sharing-survivor",
                env={
                    "FUNDS_STEP_LEASE_S": LEASE_S,
                    "CELERY_VISIBILITY_TIMEOUT": "5",
                    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
                    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
                },
            )
            try:
                # beat's sweepers, as they would run every minute: settlement catch-up and
                # the steps' sweeper (a killed sender's claimed step comes back after its lease)
                def all_released():
                    funds_steps_sweep(timezone.now() + timedelta(minutes=2))
                    call_command("run_sweepers", now=(timezone.now() + timedelta(minutes=10)).isoformat())
                    done = FundsStep.objects.filter(kind="unfreeze", status="confirmed").count()
                    return done == len(orders)

                wait_for(
                    all_released, timeout=240, interval=1, what=f"every unfreeze confirmed ({second_log})"
                )
            finally:
                worker_stop(second)
    finally:
        gateway.control.clear()

    ids = [o.pk for o in orders]
    for kind in ("share_finished", "unfreeze_confirmed"):
        assert Transaction.objects.filter(kind=kind, ref_type="order", ref_id__in=ids).count() == len(ids)
    assert FundsStep.objects.filter(kind="share", status="confirmed").count() == len(ids)
    # At the gateway: each merchant released exactly its rest, nothing left frozen, and the
    # platform received each share once.
    shares = {s.order_id: s.amount_fen for s in FundsStep.objects.filter(kind="share")}
    for order in orders:
        balances = gateway.balances(subs[order.pk])
        assert balances == {"frozen": 0, "released": order.paid_fen - shares[order.pk]}, order.pk
    call_command("ledger_check")

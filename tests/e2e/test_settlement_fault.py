"""Issue 6's fault test: a real Celery worker is SIGKILLed (parent and prefork children)
in the middle of settlement batches; a new worker takes over and afterwards every order
is settled exactly once, every wallet holds its exact fen and ``ledger_check`` passes.

Why it comes out right (the promise under test): ``orders_settle_task`` is ``acks_late``
with ``reject_on_worker_lost``, so a batch whose worker died is still unacked in Redis and
comes back; each batch is one transaction (a killed one leaves nothing but its
``SettlementRun`` marked running), and ``OrderSettlement`` plus the ledger's unique keys
make a re-run settle nothing twice.

The kill lands mid-batch without any test hook in the code: batches are big enough to
take a while, and the test polls the database until one batch has committed while
another is still running (a ``SettlementRun`` in ``running``), then kills the group.
The second worker runs with a 5 s visibility timeout and a restore scan every second
(``CELERY_VISIBILITY_TIMEOUT`` & co., shop/settings/base.py), so the killed worker's
unacked messages come back within seconds instead of an hour; and the catch-up sweeper
runs, as beat would, because a message the dead worker had just popped from the queue
but not yet recorded as unacked is lost to Redis (seen in this test's first runs).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from functools import partial
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from groupstore.tests.factories import make_store
from products.tests.factories import SkuFactory
from rebates.models import Accrual, OrderSettlement, SettlementRun
from rebates.selectors import wallet_get
from rebates.services.hooks import CATCH_UP_GRACE, settlement_catch_up
from rebates.tasks import orders_settle_task
from rebates.tests.helpers import make_completed_orders
from shop.api.metrics import queue_length
from shop.ledger.models import Account, Transaction
from shop.ledger.selectors import account_balances_for_owner

from .conftest import wait_for, worker_kill, worker_start, worker_stop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MEMBERS = 30
ORDERS_EACH = 8  # 240 orders
BATCH = 30  # 8 batches, 2 in flight at a time on a prefork -c 2 worker

# 1 × ¥19.90 at 10 % commission (docs/design.md's worked example): 199 fen commission, member 59,
# owner 119, platform 21, of which half (10) funds the store's red envelope; the merchant
# keeps 1,990 − 199 = 1,791 less the 0.6 % fee floor(11.94) = 11, so 1,780 becomes payable.
MEMBER_FEN, OWNER_FEN, MERCHANT_PAYABLE_FEN, FEE_FEN, ENVELOPE_FEN = 59, 119, 1_780, 11, 10


@pytest.fixture
def fault_queue():
    """A queue of this test's own (no session worker consumes it); tasks go through Redis."""
    from shop.celery import app

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-settle-fault"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    app.conf.task_always_eager = False
    yield queue
    app.conf.task_always_eager = True
    client.delete(queue)


def test_killing_the_worker_mid_batch_settles_every_order_exactly_once(fault_queue):
    rules = settings.SHOP_RULES
    assert (rules["MEMBER_REBATE_SHARE_BPS"], rules["OWNER_COMMISSION_SHARE_BPS"]) == (3000, 6000)
    assert (rules["ENVELOPE_PLATFORM_SHARE_BPS"], rules["MERCHANT_PLATFORM_FEE_BPS"]) == (5000, 60)

    # given 240 completed orders (real services: bought, paid, shipped, received, completed)
    # whose accruals are still pending
    store, _, members = make_store(members=MEMBERS)
    sku = SkuFactory(price_fen=1_990, commission_bps=1_000, on_hand=MEMBERS * ORDERS_EACH)
    orders = make_completed_orders(buyers=members * ORDERS_EACH, store=store, sku=sku)
    order_ids = sorted(o.pk for o in orders)
    total = len(order_ids)
    assert not OrderSettlement.objects.exists()
    assert wallet_get(user_id=members[0].pk).pending_fen == MEMBER_FEN * ORDERS_EACH
    db_name = connection.settings_dict["NAME"]

    # when their settlement is enqueued in batches to a real worker through Redis …
    first, first_log = worker_start(db_name=db_name, queue=fault_queue, name="doomed")
    try:
        for start in range(0, total, BATCH):
            orders_settle_task.apply_async((order_ids[start : start + BATCH],), queue=fault_queue)

        # … and the whole worker is SIGKILLed once one batch has committed and another is running
        def mid_batch():
            # one batch committed, another begun and its worker inside a database transaction
            done = OrderSettlement.objects.count()
            running = SettlementRun.objects.filter(outcome=SettlementRun.Outcome.RUNNING).exists()
            return 0 < done < total and running and _worker_in_transaction(db_name)

        wait_for(mid_batch, timeout=60, interval=0.01, what="a batch in flight after one committed")
    finally:
        worker_kill(first)
    settled_at_kill = OrderSettlement.objects.count()
    orphans = list(SettlementRun.objects.filter(outcome=SettlementRun.Outcome.RUNNING))
    assert 0 < settled_at_kill < total, first_log.read_text()[-2000:]
    assert orphans, "the kill should leave at least one batch that never finished"
    # A killed batch wrote nothing but its run row: no order settled under an unfinished run.
    assert not OrderSettlement.objects.filter(run__in=orphans).exists()

    # … and beat's catch-up sweeper runs (past its grace): a batch the dead worker had
    # fetched but not yet recorded as unacked is gone from Redis (kombu pops the message
    # before it writes the unacked entry), so redelivery alone cannot be relied on
    with mock.patch.object(orders_settle_task, "delay", partial(_to_queue, queue=fault_queue)):
        swept = settlement_catch_up(orders[-1].completed_at + CATCH_UP_GRACE + timedelta(minutes=1))
    assert swept == total - settled_at_kill

    # … and a new worker is started (short visibility timeout, restore scan every second)
    second, second_log = worker_start(
        db_name=db_name,
        queue=fault_queue,
        name="survivor",
        env={
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        },
    )
    try:
        # then everything settles, redelivered and swept batches alike (the later one of each
        # pair settles nothing) …
        wait_for(
            lambda: OrderSettlement.objects.count() == total,
            timeout=60,
            interval=0.2,
            what=f"all {total} orders settled (second worker log: {second_log})",
        )
        _wait_until_quiet(fault_queue)
    finally:
        worker_stop(second)

    # every order settled exactly once: one settlement row, one ledger transaction, accruals settled
    assert OrderSettlement.objects.filter(order_id__in=order_ids).count() == total
    keys = [f"order:{i}:settle" for i in order_ids]
    assert Transaction.objects.filter(idempotency_key__in=keys).count() == total
    assert (
        Transaction.objects.filter(ref_type="order", ref_id__in=order_ids, kind="commission_settled").count()
        == total
    )
    assert set(Accrual.objects.values_list("status", flat=True)) == {Accrual.Status.SETTLED}
    assert sum(SettlementRun.objects.values_list("orders_settled", flat=True)) == total, (
        "a settled order was counted by two runs"
    )

    # wallets hold exactly what the commission split says, nothing pending
    bought = Counter(o.buyer_id for o in orders)
    for member in members:
        wallet = wallet_get(user_id=member.pk)
        assert (wallet.available_fen, wallet.pending_fen) == (MEMBER_FEN * bought[member.pk], 0)
    owner = wallet_get(user_id=store.owner_id)
    assert (owner.available_fen, owner.pending_fen) == (OWNER_FEN * total, 0)
    merchant = account_balances_for_owner(owner_type=Account.OwnerType.MERCHANT, owner_id=sku.merchant_id)
    assert merchant.get(Account.Kind.MERCHANT_PAYABLE) == MERCHANT_PAYABLE_FEN * total
    assert merchant.get(Account.Kind.MERCHANT_RECEIVABLE, 0) == 0
    platform = account_balances_for_owner(owner_type=Account.OwnerType.PLATFORM, owner_id=0)
    assert platform.get(Account.Kind.PLATFORM_PENDING, 0) == 0
    assert platform[Account.Kind.PLATFORM_REVENUE] == (21 - ENVELOPE_FEN + FEE_FEN) * total
    # one envelope per order, all in the store's one pool
    pools = Account.objects.filter(kind=Account.Kind.RED_ENVELOPE_POOL)
    assert list(pools.values_list("owner_type", "owner_id", "balance_fen")) == [
        (Account.OwnerType.STORE, store.pk, ENVELOPE_FEN * total)
    ]
    call_command("ledger_check")


def _worker_in_transaction(db_name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND xact_start IS NOT NULL AND query NOT LIKE '%%pg_stat_activity%%'",
            [db_name],
        )
        return cursor.fetchone()[0] > 0


def _to_queue(order_ids: list[int], *, queue: str):
    return orders_settle_task.apply_async((order_ids,), queue=queue)


def _wait_until_quiet(queue: str) -> None:
    """Nothing queued and no run finishing for a second: redelivered duplicates are done."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def quiet():
        before = SettlementRun.objects.exclude(outcome=SettlementRun.Outcome.RUNNING).count()
        time.sleep(1.0)
        after = SettlementRun.objects.exclude(outcome=SettlementRun.Outcome.RUNNING).count()
        return queue_length(client, queue) == 0 and before == after

    wait_for(quiet, timeout=30, interval=0.1, what="the queue to drain")

"""Settlement: a completed order's pending accruals become available wallet balance, its
remaining receivable becomes payable to the merchant, and it funds its store's red envelope.

All of it happens in one transaction per batch, and each order is **one** ledger
transaction, key ``order:<id>:settle``: its accruals (pending → available, the
platform's → revenue), its envelope's funding (revenue or the marketing budget → the
store's envelope pool) and the merchant's due (receivable → payable, the fee → revenue),
netted per account, so the platform's revenue is one line whatever feeds it. Entries are
inserted in bulk and each cached balance is updated once (``ledger_post_many``). An
``OrderSettlement`` row (the order is its primary key) marks each order settled — it is
also what refunds ask (``orders.hooks.order_is_settled``) to choose between cancelling
pending money and clawing back settled money — so a batch run twice, or concurrently,
settles nothing twice; a ``SettlementRun`` row records every batch for ops.

What a settled order writes, and nothing more (issue 6: 100,000 orders a minute on two
cores): one transaction row and its ~9 entries, one ``OrderSettlement``, one envelope,
and its accruals' status (a HOT update: see ``Accrual``); the order row is not touched.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from groupstore.services import member_stats_record_rebates, store_stats_record_commissions
from orders.locks import order_qs_for_update
from orders.models import Order
from orders.services.refunds import order_merchant_refunded_fen
from rebates.models import Accrual, OrderSettlement, SettlementRun
from rebates.services.envelopes import envelopes_fund_for_orders
from shop.db import rows_insert
from shop.ledger.models import Account
from shop.ledger.services import (
    AccountRef,
    Posting,
    ledger_apply_balances,
    ledger_write_many_balances_unapplied,
)
from shop.money import fen_share
from shop.payments.models import FundsStep, PaymentPart

logger = logging.getLogger("rebates.settlement")

PLATFORM_PENDING = AccountRef.platform(Account.Kind.PLATFORM_PENDING)
PLATFORM_REVENUE = AccountRef.platform(Account.Kind.PLATFORM_REVENUE)
GATEWAY_CLEARING = AccountRef.platform(Account.Kind.GATEWAY_CLEARING)


# What settlement reads of an order and an accrual, as plain tuples: a batch loads
# hundreds of each, and model instances (or the other columns) would only cost time.
class SettlingOrder(NamedTuple):
    pk: int
    store_id: int
    merchant_id: int
    sale_fen: int
    refunded_fen: int
    store_is_frozen: bool


class SettlingAccrual(NamedTuple):
    pk: int
    order_id: int
    store_id: int
    beneficiary_id: int | None
    kind: str
    amount_fen: int
    cancelled_fen: int


SETTLEMENT_COLUMNS = (
    "order_id",
    "merchant_id",
    "run_id",
    "commission_fen",
    "merchant_payable_fen",
    "platform_fee_fen",
    "settled_at",
)


@dataclass
class _Totals:
    orders: int = 0
    commission_fen: int = 0
    merchant_payable_fen: int = 0
    platform_fee_fen: int = 0
    envelopes: int = 0
    rows: list[tuple] = field(default_factory=list)  # OrderSettlement rows, SETTLEMENT_COLUMNS


def _net(accrual: SettlingAccrual) -> int:
    return accrual.amount_fen - accrual.cancelled_fen


def _order_lines(
    accruals: list[SettlingAccrual],
    envelope_lines,
    merchant_id: int,
    left: int,
    fee: int,
    share: FundsStep | None = None,
):
    """One order's settlement, netted per account (zero lines dropped): pending →
    available for people, pending → revenue for the platform; the envelope's funding;
    receivable → payable for the merchant, its fee → revenue. For an order paid by profit
    sharing (``share`` finished at the gateway) nothing becomes payable: the share's money
    left the merchant's frozen funds for the platform's account (frozen +S, gateway clearing
    −S), and what it carried beyond the commission (the fee) leaves the receivable for revenue.
    The rest stays receivable (and frozen) until the unfreeze."""
    if share is not None:  # the share's own fee: commission refunded meanwhile is returned
        left, fee = 0, share.fee_fen
    net: dict[AccountRef, int] = defaultdict(int)
    for accrual in accruals:
        amount = _net(accrual)
        if accrual.kind == Accrual.Kind.PLATFORM:
            net[PLATFORM_PENDING] -= amount
            net[PLATFORM_REVENUE] += amount
        else:
            net[AccountRef.user(Account.Kind.USER_PENDING, accrual.beneficiary_id)] -= amount
            net[AccountRef.user(Account.Kind.USER_AVAILABLE, accrual.beneficiary_id)] += amount
    for ref, amount in envelope_lines:
        net[ref] += amount
    if share is not None:
        net[AccountRef.merchant(Account.Kind.MERCHANT_FROZEN, merchant_id)] += share.amount_fen
        net[GATEWAY_CLEARING] -= share.amount_fen
        net[AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, merchant_id)] -= fee
        net[PLATFORM_REVENUE] += fee
    elif left:
        net[AccountRef.merchant(Account.Kind.MERCHANT_RECEIVABLE, merchant_id)] -= left
        net[AccountRef.merchant(Account.Kind.MERCHANT_PAYABLE, merchant_id)] += left - fee
        net[PLATFORM_REVENUE] += fee
    return [(ref, amount) for ref, amount in net.items() if amount]


def order_merchant_due(
    order: Order | SettlingOrder, commission_fen: int, *, refunded_fen: int = 0
) -> tuple[int, int]:
    """``(receivable left, platform fee)`` of a completed order.

    The merchant was credited the sale amount at payment (coupons are the platform's);
    commission left it at payment; refunds took what they returned off it (the refunded
    money plus the coupon's share of it, which went back to the marketing budget). What is left
    moves to payable, less the platform's fee (``MERCHANT_PLATFORM_FEE_BPS`` of the goods
    value kept, rounded down: the remainder stays with the merchant).
    ``refunded_fen`` is what refunds took from the merchant (``order_merchant_refunded_fen``;
    0 for an order no refund touched).
    """
    kept = max(0, order.sale_fen - refunded_fen)
    left = max(0, kept - commission_fen)
    fee = min(left, fen_share(kept, settings.SHOP_RULES["MERCHANT_PLATFORM_FEE_BPS"]))
    return left, fee


def orders_settle(*, order_ids: list[int], now: datetime | None = None) -> int:
    """Settle these completed orders (one batch, one transaction); returns how many were
    settled now. Orders not completed, or already settled, are skipped. The batch is
    recorded as a ``SettlementRun``: created before the settlement transaction (so a
    failure is recorded too), and given its outcome inside it — a worker killed after the
    commit can never leave a run "running" over orders it settled."""
    now = now or timezone.now()
    shared = shared_order_parts(order_ids=order_ids)
    if shared:
        # Paid by profit sharing: settlement writes the share rows (their own transaction);
        # the money moves when the gateway says FINISHED (``order_share_finished``).
        from rebates.services.sharing import orders_share_write

        orders_share_write(parts=shared, now=now)
        order_ids = [pk for pk in order_ids if pk not in shared]
        if not order_ids:
            return 0
    run = SettlementRun.objects.create(started_at=now, orders_requested=len(order_ids))
    try:
        totals = _settle_batch(order_ids=order_ids, now=now, run=run)
    except Exception as exc:
        SettlementRun.objects.filter(pk=run.pk).update(
            outcome=SettlementRun.Outcome.FAILED, finished_at=timezone.now(), error=repr(exc)[:2000]
        )
        raise
    return totals.orders


def _record_outcome(run: SettlementRun, totals: _Totals) -> None:
    SettlementRun.objects.filter(pk=run.pk).update(
        outcome=SettlementRun.Outcome.SETTLED if totals.orders else SettlementRun.Outcome.NOTHING_DUE,
        finished_at=timezone.now(),
        orders_settled=totals.orders,
        commission_fen=totals.commission_fen,
        merchant_payable_fen=totals.merchant_payable_fen,
        platform_fee_fen=totals.platform_fee_fen,
        envelopes_count=totals.envelopes,
    )


def shared_order_parts(*, order_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """``{order id: (part id, amount_fen, subsidy_fen)}`` of the orders paid by profit sharing."""
    return {
        order_id: (pk, amount, subsidy)
        for pk, order_id, amount, subsidy in PaymentPart.objects.filter(order_id__in=order_ids).values_list(
            "pk", "order_id", "amount_fen", "subsidy_fen"
        )
    }


def order_share_finished(step: FundsStep) -> None:
    """One share confirmed (FINISHED at the gateway): ``orders_share_finished`` of it alone."""
    orders_share_finished([step])


def orders_share_finished(steps: list[FundsStep]) -> None:
    """``FundsStep`` shares confirmed (FINISHED at the gateway), a sender's batch: the orders
    settle now, in the confirming transaction, as one settlement batch — each order's accruals
    become available, its envelope is funded, the fee is revenue — one ``share_finished``
    transaction per order under its settlement key; then each order's unfreeze is written."""
    if not steps:
        return
    now = timezone.now()
    run = SettlementRun.objects.create(started_at=now, orders_requested=len(steps))
    _settle_batch(
        order_ids=[s.order_id for s in steps], now=now, run=run, shares={s.order_id: s for s in steps}
    )
    from rebates.services.sharing import orders_unfreeze_write

    orders_unfreeze_write(shares=steps)


def _settle_batch(
    *, order_ids: list[int], now: datetime, run: SettlementRun, shares: dict[int, FundsStep] | None = None
) -> _Totals:
    """One transaction, a fixed number of queries whatever the batch size.

    What only this batch touches comes first (its orders, accruals, envelopes, settlement
    rows, its ledger transactions and entries); what concurrent batches and payments
    share — the merchants' receivable and payable, store and member figures, the ledger
    balances — comes last, so two batches on two workers overlap for all but the last
    few statements before commit.
    """
    totals = _Totals()
    shares = shares or {}
    # A finished share settles inside the transaction that confirms it; a batch is its own.
    with transaction.atomic(durable=not shares):
        # Lock the orders first (pk order), as payments and refunds do, then decide. A share
        # that finished is booked even if the order was fully refunded while it was in flight
        # (its commission comes back by share return): the money moved at the gateway.
        statuses = [Order.Status.COMPLETED] + ([Order.Status.REFUNDED] if shares else [])
        orders = [
            SettlingOrder._make(row)
            for row in order_qs_for_update()
            .filter(pk__in=order_ids, status__in=statuses)
            .values_list("pk", "store_id", "merchant_id", "sale_fen", "refunded_fen", "store__is_frozen")
        ]
        settled = set(
            OrderSettlement.objects.filter(order_id__in=[o.pk for o in orders]).values_list(
                "order_id", flat=True
            )
        )
        orders = [o for o in orders if o.pk not in settled]
        if not orders:
            _record_outcome(run, totals)
            return totals
        # Only a refunded order needs its items (what refunds took from the merchant).
        # (They are locked already, by the query above.)
        touched = [o.pk for o in orders if o.refunded_fen]
        refunded = {
            order.pk: order_merchant_refunded_fen(order)
            for order in Order.objects.filter(pk__in=touched).only("pk").prefetch_related("items")
        }
        accruals = [
            SettlingAccrual._make(row)
            for row in Accrual.objects.select_for_update(no_key=True, of=("self",))
            .filter(order_id__in=[o.pk for o in orders], status=Accrual.Status.PENDING)
            .order_by("pk")
            .values_list(
                "pk", "order_id", "store_id", "beneficiary_id", "kind", "amount_fen", "cancelled_fen"
            )
        ]
        by_order: dict[int, list[SettlingAccrual]] = defaultdict(list)
        for accrual in accruals:
            by_order[accrual.order_id].append(accrual)
        platform_fen = {
            order_id: sum(_net(a) for a in items if a.kind == Accrual.Kind.PLATFORM)
            for order_id, items in by_order.items()
        }
        funding = envelopes_fund_for_orders(orders=orders, platform_fen=platform_fen, now=now)
        postings = [
            _order_posting(
                order,
                by_order[order.pk],
                funding.lines_by_order.get(order.pk, ()),
                refunded.get(order.pk, 0),
                totals,
                now,
                run,
                shares.get(order.pk),
            )
            for order in orders
        ]
        # From now on refunds claw back settled money and charge the merchant's payable
        # (both look at these rows: the accruals' status, the OrderSettlement).
        rows_insert(model=OrderSettlement, fields=SETTLEMENT_COLUMNS, rows=totals.rows)
        Accrual.objects.filter(pk__in=[a.pk for a in accruals]).update(
            status=Accrual.Status.SETTLED, settled_at=now
        )
        # The ledger transactions and entries are new rows: written before any shared
        # row is locked, so a concurrent batch waits only for what follows.
        written = ledger_write_many_balances_unapplied(postings=[p for p in postings if p is not None])
        # Lock order of the shared rows, as a payment does: the merchants' receivable
        # accounts (a payment posts its receipt there first), then store figures (the
        # payment handler records them next), then the other ledger accounts' balances
        # (it accrues last). Any other order deadlocks a settlement against payments.
        _lock_receivables({o.merchant_id for o in orders})
        _push_aggregates(accruals)
        ledger_apply_balances(written)
        totals.orders = len(orders)
        totals.envelopes = funding.count
        _record_outcome(run, totals)  # in the transaction: the outcome commits with the batch
        # Payees are told after the commit, off this transaction (settlement_notices.py).
        from rebates.tasks import settlement_run_notify_task

        transaction.on_commit(partial(settlement_run_notify_task.delay, run.pk))
    return totals


def _order_posting(
    order: SettlingOrder,
    accruals,
    envelope_lines,
    refunded_fen: int,
    totals: _Totals,
    now,
    run,
    share: FundsStep | None = None,
) -> Posting | None:
    commission = sum(_net(a) for a in accruals)
    left, fee = order_merchant_due(order, commission, refunded_fen=refunded_fen)
    if share is not None:  # nothing payable: the rest is the merchant's, frozen at the gateway
        left, fee = share.fee_fen, share.fee_fen
    lines = _order_lines(accruals, envelope_lines, order.merchant_id, left, fee, share)
    totals.commission_fen += commission
    totals.merchant_payable_fen += left - fee
    totals.platform_fee_fen += fee
    totals.rows.append((order.pk, order.merchant_id, run.pk, commission, left - fee, fee, now))
    if not lines:
        return None
    return Posting(
        key=f"order:{order.pk}:settle",
        kind="commission_settled" if share is None else "share_finished",
        lines=lines,
        memo=f"Settlement of order {order.pk}",
        ref_type="order",
        ref_id=order.pk,
    )


def _lock_receivables(merchant_ids: set[int]) -> None:
    list(
        Account.objects.select_for_update(no_key=True)
        .filter(
            kind=Account.Kind.MERCHANT_RECEIVABLE,
            owner_type=Account.OwnerType.MERCHANT,
            owner_id__in=merchant_ids,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _push_aggregates(accruals: list[SettlingAccrual]) -> None:
    owner_by_store: dict[int, int] = defaultdict(int)
    rebate_by_member: dict[tuple[int, int], int] = defaultdict(int)
    for accrual in accruals:
        amount = _net(accrual)
        if accrual.kind == Accrual.Kind.OWNER_COMMISSION:
            owner_by_store[accrual.store_id] += amount
        elif accrual.kind == Accrual.Kind.MEMBER_REBATE:
            rebate_by_member[(accrual.store_id, accrual.beneficiary_id)] += amount
    store_stats_record_commissions(settled_fen=owner_by_store)
    member_stats_record_rebates(rebates_fen=rebate_by_member)


def unsettled_completed_order_ids(
    *, completed_before: datetime, limit: int, completed_since: datetime | None = None
) -> list[int]:
    """Completed orders (before the cut-off, so fresh ones are left to their own task, and
    from ``completed_since`` when given) that have not been settled yet."""
    # NOT EXISTS, not ``exclude(pk__in=…)``: PostgreSQL plans ``NOT IN (SELECT …)`` over a
    # table too big to hash in work_mem (1.8 M settlements) as a rescan per order — at 2 M
    # orders this sweeper's query ran for minutes (bench/ops_overview.py); an anti-join
    # takes about a second.
    completed = Order.objects.filter(status=Order.Status.COMPLETED, completed_at__lte=completed_before)
    if completed_since is not None:
        completed = completed.filter(completed_at__gte=completed_since)
    return list(
        completed.filter(~Exists(OrderSettlement.objects.filter(order_id=OuterRef("pk"))))
        # a shared order's share row is written: its settlement waits for the gateway
        .filter(~Exists(FundsStep.objects.filter(order_id=OuterRef("pk"), kind=FundsStep.Kind.SHARE)))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )

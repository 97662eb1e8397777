"""Settlement: a completed order's pending accruals become available wallet balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from groupstore.services import member_stats_record_rebate, store_stats_record_commission
from orders.models import Order
from rebates.models import Accrual
from shop.ledger.models import Account
from shop.ledger.services import AccountRef, Posting, ledger_post_many


def _lines_for(accruals: list[Accrual]) -> list[tuple[AccountRef, int]]:
    lines: list[tuple[AccountRef, int]] = []
    for accrual in accruals:
        amount = accrual.amount_fen - accrual.cancelled_fen
        if amount == 0:
            continue
        if accrual.kind == Accrual.Kind.PLATFORM:
            lines.append((AccountRef.platform(Account.Kind.PLATFORM_PENDING), -amount))
            lines.append((AccountRef.platform(Account.Kind.PLATFORM_REVENUE), amount))
        else:
            lines.append((AccountRef.user(Account.Kind.USER_PENDING, accrual.beneficiary_id), -amount))
            lines.append((AccountRef.user(Account.Kind.USER_AVAILABLE, accrual.beneficiary_id), amount))
    return lines


def orders_settle(*, order_ids: list[int], now: datetime | None = None) -> int:
    """Settle the pending accruals of these completed orders, in one transaction: one
    ledger transaction per order (keyed ``order:<id>:settle``), entries inserted in
    bulk, each balance updated once. Orders not completed, or already settled, are
    skipped, so running it twice — or concurrently — pays nothing twice. Returns the
    number of orders settled now.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        accruals = list(
            Accrual.objects.select_for_update(no_key=True, of=("self",))
            .filter(
                order_id__in=order_ids, status=Accrual.Status.PENDING, order__status=Order.Status.COMPLETED
            )
            .order_by("pk")
        )
        if not accruals:
            return 0
        by_order: dict[int, list[Accrual]] = defaultdict(list)
        for accrual in accruals:
            by_order[accrual.order_id].append(accrual)
        postings = [
            Posting(
                key=f"order:{order_id}:settle",
                kind="commission_settled",
                lines=_lines_for(items),
                memo=f"Settlement of order {order_id}",
                ref_type="order",
                ref_id=order_id,
            )
            for order_id, items in by_order.items()
        ]
        # Lock order: store figures before ledger accounts, as a payment does (its handler
        # records the store's figures, then accrues): the other way round, settling a store
        # while one of its orders is paid deadlocks on the owner's pending account.
        _push_aggregates(accruals)
        ledger_post_many(postings=postings)
        Accrual.objects.filter(pk__in=[a.pk for a in accruals]).update(
            status=Accrual.Status.SETTLED, settled_at=now
        )
        # Refunds from now on claw back settled money and charge the merchant's payable.
        Order.objects.filter(pk__in=list(by_order)).update(settled_at=now)
        return len(by_order)


def _push_aggregates(accruals: list[Accrual]) -> None:
    owner_by_store: dict[int, int] = defaultdict(int)
    rebate_by_member: dict[tuple[int, int], int] = defaultdict(int)
    for accrual in accruals:
        amount = accrual.amount_fen - accrual.cancelled_fen
        if accrual.kind == Accrual.Kind.OWNER_COMMISSION:
            owner_by_store[accrual.store_id] += amount
        elif accrual.kind == Accrual.Kind.MEMBER_REBATE:
            rebate_by_member[(accrual.store_id, accrual.beneficiary_id)] += amount
    for store_id in sorted(owner_by_store):
        amount = owner_by_store[store_id]
        store_stats_record_commission(store_id=store_id, pending_fen=-amount, settled_fen=amount)
    for store_id, user_id in sorted(rebate_by_member):
        member_stats_record_rebate(
            store_id=store_id, user_id=user_id, rebate_fen=rebate_by_member[(store_id, user_id)]
        )


def unsettled_completed_order_ids(*, completed_before: datetime, limit: int) -> list[int]:
    """Completed orders (before the cut-off, so fresh ones are left to their own task)
    that still have pending accruals."""
    return list(
        Order.objects.filter(
            status=Order.Status.COMPLETED,
            completed_at__lte=completed_before,
            accruals__status=Accrual.Status.PENDING,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()[:limit]
    )

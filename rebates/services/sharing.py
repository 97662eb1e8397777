"""The share (分账) of orders paid by profit sharing (docs/merchant-money.md "The share").

Settlement writes one share row (``FundsStep`` ``S<order>``) per completed shared order, in
its own transaction: commission + platform fee, capped at the merchant's maximum share
ratio of what can be shared (the part's amount plus its subsidy). After commit one task
per 100 rows sends them (``shop.payments.steps``, at each merchant's rate); only when the
gateway says FINISHED does the order settle (``settlement.orders_share_finished``, a
confirmed batch of shares at once).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum

from orders.locks import order_qs_for_update
from orders.models import AfterSale, Order
from orders.services.refunds import order_merchant_refunded_fen
from rebates.models import Accrual
from shop.payments.models import FundsStep, Payment, PaymentPart
from shop.payments.steps import funds_steps_write
from shop.payments.steps_ledger import orders_frozen_fen

logger = logging.getLogger("rebates.sharing")


def share_cap_fen(*, amount_fen: int, subsidy_fen: int) -> int:
    """The most one sub-order can share: the merchant's maximum ratio (WeChat's default
    30 %) of what can be shared, rounded down as WeChat does."""
    return (amount_fen + subsidy_fen) * settings.SHOP_RULES["MERCHANT_MAX_SHARE_BPS"] // 10_000


def orders_share_write(*, parts: dict[int, tuple[int, int, int]], now: datetime) -> int:
    """Write the share rows of these completed shared orders (``{order: (part, amount,
    subsidy)}``); an order that has one already is skipped. Returns how many were written.
    The platform fee is what gives way to the cap; a commission alone above the cap cannot
    happen (rates are refused when set, ``products.rules``) and is written as a failed step,
    an ops case, rather than a share WeChat would refuse."""
    from rebates.services.settlement import order_merchant_due

    with transaction.atomic(durable=True):
        orders = list(
            order_qs_for_update()
            .filter(pk__in=list(parts), status=Order.Status.COMPLETED)
            .only("pk", "merchant_id", "sale_fen", "refunded_fen")
        )
        done = set(
            FundsStep.objects.filter(
                kind=FundsStep.Kind.SHARE, order_id__in=[o.pk for o in orders]
            ).values_list("order_id", flat=True)
        )
        orders = [o for o in orders if o.pk not in done]
        commission: dict[int, int] = defaultdict(int)
        for order_id, net in (
            Accrual.objects.filter(order_id__in=[o.pk for o in orders], status=Accrual.Status.PENDING)
            .values("order_id")
            .annotate(net=Sum(F("amount_fen") - F("cancelled_fen")))
            .values_list("order_id", "net")
        ):
            commission[order_id] = net
        steps = []
        for order in orders:
            part_id, amount, subsidy = parts[order.pk]
            refunded = order_merchant_refunded_fen(order) if order.refunded_fen else 0
            _, fee = order_merchant_due(order, commission[order.pk], refunded_fen=refunded)
            cap = share_cap_fen(amount_fen=amount, subsidy_fen=subsidy)
            fee = max(0, min(fee, cap - commission[order.pk]))
            step = FundsStep(
                kind=FundsStep.Kind.SHARE,
                part_id=part_id,
                order_id=order.pk,
                merchant_id=order.merchant_id,
                out_no=f"S{order.pk}",
                amount_fen=commission[order.pk] + fee,
                commission_fen=commission[order.pk],
                fee_fen=fee,
            )
            if commission[order.pk] > cap:
                logger.error(
                    "order %s: commission %s above the share cap %s", order.pk, commission[order.pk], cap
                )
                step.status, step.last_error = (
                    FundsStep.Status.FAILED,
                    f"commission above the cap of {cap} fen",
                )
            steps.append(step)
        funds_steps_write(steps)
    return len(steps)


def order_unfreeze_write(*, share: FundsStep) -> FundsStep | None:
    """``orders_unfreeze_write`` of one share: its unfreeze step, or None while a case is open."""
    steps = orders_unfreeze_write(shares=[share])
    return steps[0] if steps else None


def orders_unfreeze_write(*, shares: list[FundsStep]) -> list[FundsStep]:
    """After the share: the rest is unfrozen for the merchant (完结分账, ``U<order>``) once the
    order's last after-sales case has ended. A completed order has none open (completion
    waits for them), so the finishing request is written with the share's confirmation and
    sent after commit; it waits at the gateway side for any step of the sub-order still open.
    A batch of shares costs a fixed number of queries (and one send task per 100 steps)."""
    order_ids = [s.order_id for s in shares]
    disputed = set(  # the case's end writes it (the day-150 sweeper is the backstop)
        AfterSale.objects.filter(order_id__in=order_ids, status__in=AfterSale.OPEN).values_list(
            "order_id", flat=True
        )
    )
    shares = [s for s in shares if s.order_id not in disputed]
    rest = orders_frozen_fen(orders={s.order_id: s.merchant_id for s in shares})
    return funds_steps_write(
        [
            FundsStep(
                kind=FundsStep.Kind.UNFREEZE,
                part_id=share.part_id,
                order_id=share.order_id,
                merchant_id=share.merchant_id,
                out_no=f"U{share.order_id}",
                amount_fen=max(rest.get(share.order_id, 0), 0),
            )
            for share in shares
        ]
    )


# WeChat unfreezes a sub-order's rest by itself 180 days after payment and refuses shares
# after that: what is not shared and finished by day 150 is shared now, or handed to ops.
SHARE_DEADLINE = timedelta(days=150)
DEADLINE_BATCH = 500


def funds_deadline_sweep(now: datetime) -> int:
    """Sweeper: shared orders paid ``SHARE_DEADLINE`` ago and not yet unfrozen. A completed
    order with no share row is settled now (its share is written and sent); an order with an
    open after-sales case, or not completed, becomes an ops case: an unfreeze step written as
    failed, saying why (admin *Send again* sends it once ops have decided). Returns how many
    orders it acted on."""
    from rebates.services.settlement import orders_settle

    parts = list(
        PaymentPart.objects.filter(
            payment__status=Payment.Status.SUCCEEDED, payment__paid_at__lte=now - SHARE_DEADLINE
        )
        .exclude(order_id__in=FundsStep.objects.filter(kind=FundsStep.Kind.UNFREEZE).values("order_id"))
        .order_by("order_id")[:DEADLINE_BATCH]
    )
    orders = {o.pk: o for o in Order.objects.filter(pk__in=[p.order_id for p in parts])}
    shared = set(
        FundsStep.objects.filter(kind=FundsStep.Kind.SHARE, order_id__in=list(orders)).values_list(
            "order_id", flat=True
        )
    )
    disputed = set(
        AfterSale.objects.filter(order_id__in=list(orders), status__in=AfterSale.OPEN).values_list(
            "order_id", flat=True
        )
    )
    to_settle, cases = [], []
    for part in parts:
        order = orders[part.order_id]
        if part.order_id not in disputed and order.status == Order.Status.COMPLETED:
            if part.order_id not in shared:
                to_settle.append(part.order_id)
            continue  # shared: its unfreeze follows the share's confirmation
        why = "open after-sales case" if part.order_id in disputed else f"order {order.status}"
        cases.append(
            FundsStep(
                kind=FundsStep.Kind.UNFREEZE,
                status=FundsStep.Status.FAILED,
                part=part,
                order_id=part.order_id,
                merchant_id=part.merchant_id,
                out_no=f"U{part.order_id}",
                amount_fen=0,  # what is frozen when the gateway confirms it
                last_error=f"day 150 after payment, {why}: decide, then send again (WeChat unfreezes at 180)",
            )
        )
    FundsStep.objects.bulk_create(cases, ignore_conflicts=True)
    if to_settle:
        orders_settle(order_ids=to_settle, now=now)
    return len(to_settle) + len(cases)

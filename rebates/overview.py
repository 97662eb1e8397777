"""The rebates app's panel of the ops overview (``shop.overview``): the settlement and
profit-sharing backlog — money that is due to move and has not.

- *Due for completion*: received orders whose after-sales window has closed, not yet
  completed by the sweeper (``order_status_as_close_idx``).
- *Completed, not settled*: orders completed in the last 30 days with no ``OrderSettlement``
  and no share step (the set the catch-up sweeper settles; a shared order waits for its
  share instead, counted in the funds steps). Read through ``order_completed_at_idx`` (a
  partial index on completed orders' ``completed_at``), anti-joined with the settlements.
- *Funds steps* (``shop.payments.overview``): shares, unfreezes and returns not confirmed
  by the gateway, and those failed for good (ops cases).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Exists, F, Min, OuterRef, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from orders.models import Order
from shop.overview import Chart, Figure, Panel, Series, day_labels, fill_days, local_days
from shop.payments.models import FundsStep
from shop.payments.overview import funds_step_backlog_for_ops, funds_step_rows

from .models import OrderSettlement


@dataclass(frozen=True)
class SettlementBacklog:
    due_for_completion_count: int
    due_for_completion_fen: int  # paid − refunded of those orders
    unsettled_count: int
    unsettled_fen: int
    unsettled_by_day: dict[date, int]  # by local day of completion
    oldest_unsettled_at: datetime | None


def settlement_backlog_for_ops(*, now: datetime, since: datetime) -> SettlementBacklog:
    """Orders whose money is due to settle and is not (see the module's docstring); the
    completed-not-settled part counts orders completed since ``since`` (the panel: the last
    30 days) — the whole table's anti-join cost 2–3 s at 2 M orders, the month's ~0.1 s."""
    due = Order.objects.filter(status=Order.Status.RECEIVED, after_sales_closes_at__lte=now).aggregate(
        n=Count("pk"), fen=Coalesce(Sum(F("paid_fen") - F("refunded_fen")), 0)
    )
    unsettled = (
        Order.objects.filter(status=Order.Status.COMPLETED, completed_at__gte=since)
        .filter(~Exists(OrderSettlement.objects.filter(order_id=OuterRef("pk"))))
        .filter(~Exists(FundsStep.objects.filter(order_id=OuterRef("pk"), kind=FundsStep.Kind.SHARE)))
    )
    by_day = {
        r["day"]: r
        for r in unsettled.annotate(day=TruncDate("completed_at"))
        .values("day")
        .annotate(
            n=Count("pk"), fen=Coalesce(Sum(F("paid_fen") - F("refunded_fen")), 0), oldest=Min("completed_at")
        )
    }
    oldest = min((r["oldest"] for r in by_day.values()), default=None)
    return SettlementBacklog(
        due_for_completion_count=due["n"],
        due_for_completion_fen=due["fen"],
        unsettled_count=sum(r["n"] for r in by_day.values()),
        unsettled_fen=sum(r["fen"] for r in by_day.values()),
        unsettled_by_day={d: r["n"] for d, r in by_day.items()},
        oldest_unsettled_at=oldest,
    )


def settlement_panel(now: datetime) -> Panel:
    days, since = local_days(now)
    backlog = settlement_backlog_for_ops(now=now, since=since)
    steps = funds_step_backlog_for_ops()
    steps_open = sum(s.open_count for s in steps)
    steps_failed = sum(s.failed_count for s in steps)
    labels = [s.label.split("(")[-1].rstrip(")") for s in steps]  # the Chinese name: short
    return Panel(
        key="settlement",
        title="Settlement and profit-sharing backlog · 结算与分账积压",
        figures=[
            Figure(
                f"Due for completion ({backlog.due_for_completion_count}) · 待完结订单",
                backlog.due_for_completion_fen,
                fen=True,
            ),
            Figure(
                f"Completed, not settled ({backlog.unsettled_count}) · 已完结未结算",
                backlog.unsettled_fen,
                fen=True,
                alert=backlog.unsettled_count > 0,
            ),
            Figure("Funds steps open · 分账处理中", steps_open),
            Figure("Funds steps failed · 分账失败", steps_failed, alert=steps_failed > 0),
        ],
        charts=[
            Chart(
                "Completed, not settled — by day completed · 未结算订单（按完结日）",
                day_labels(days),
                [Series("Orders", fill_days(days, backlog.unsettled_by_day))],
            ),
            Chart(
                "Funds steps not done, by kind · 未完成的资金操作",
                labels,
                [
                    Series("Open 处理中", [s.open_count for s in steps]),
                    Series("Failed 失败", [s.failed_count for s in steps]),
                ],
            ),
        ],
        note=f"Orders completed since {days[0]:%m-%d} (the settlement sweeper retries any older one). "
        + (
            f"Oldest waiting: completed {timezone.localtime(backlog.oldest_unsettled_at):%Y-%m-%d %H:%M}."
            if backlog.oldest_unsettled_at
            else "None is waiting for settlement."
        ),
        table_head=["Step 资金操作", "Open", "Open ¥", "Failed", "Failed ¥"]
        if steps_open or steps_failed
        else [],
        table_rows=funds_step_rows(steps),
        link=reverse("admin:payments_fundsstep_changelist"),
    )

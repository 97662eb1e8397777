"""The payments app's part of the ops overview (``shop.overview``): the profit-sharing
backlog (read by the settlement panel in ``rebates.overview``) and the reconciliation panel.

Both read only what is open: funds steps not confirmed (``funds_step_due_idx`` leads with
``status``) and reconciliation cases open (``reconciliation_case_status_idx``), so their cost
follows the backlog, not the 2 M orders behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Func, Min, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse

from shop.money import fen_display
from shop.overview import Chart, Figure, Panel, Series, day_labels, fill_days, local_days

from .models import BillImport, FundsStep, ReconciliationCase


@dataclass(frozen=True)
class StepBacklog:
    kind: str
    label: str
    open_count: int  # pending (to send) or processing (sent, polled)
    open_fen: int
    failed_count: int  # failed for good: an ops case
    failed_fen: int


def funds_step_backlog_for_ops() -> list[StepBacklog]:
    """Per kind of funds step (share, unfreeze, returns …), the steps not done: open
    (pending/processing) and failed for good, with counts and fen. Every kind is listed."""
    rows = {
        (r["kind"], r["status"]): r
        for r in FundsStep.objects.filter(status__in=(*FundsStep.OPEN, FundsStep.Status.FAILED))
        .values("kind", "status")
        .annotate(n=Count("pk"), fen=Coalesce(Sum("amount_fen"), 0))
    }
    zero = {"n": 0, "fen": 0}
    backlog = []
    for kind, label in FundsStep.Kind.choices:
        open_rows = [rows.get((kind, status), zero) for status in FundsStep.OPEN]
        failed = rows.get((kind, FundsStep.Status.FAILED), zero)
        backlog.append(
            StepBacklog(
                kind=kind,
                label=label,
                open_count=sum(r["n"] for r in open_rows),
                open_fen=sum(r["fen"] for r in open_rows),
                failed_count=failed["n"],
                failed_fen=failed["fen"],
            )
        )
    return backlog


class _Abs(Func):
    function = "ABS"


@dataclass(frozen=True)
class ReconciliationFigures:
    open_count: int
    difference_fen: int  # Σ |ours − bill| over open cases (a missing side counts as 0)
    by_kind: dict[str, int]  # open cases per kind
    by_bill_date: dict[date, int]  # open cases per bill day
    oldest_bill_date: date | None
    failed_imports: int  # bills that could not be read: ops to look


def reconciliation_open_for_ops() -> ReconciliationFigures:
    """Open reconciliation cases: how many, how much money differs, per kind and per bill day."""
    open_cases = ReconciliationCase.objects.filter(status=ReconciliationCase.Status.OPEN)
    totals = open_cases.aggregate(
        n=Count("pk"),
        diff=Coalesce(Sum(_Abs(Coalesce("our_amount_fen", 0) - Coalesce("bill_amount_fen", 0))), 0),
        oldest=Min("bill_date"),
    )
    by_kind = dict(open_cases.values("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    by_day = dict(open_cases.values("bill_date").annotate(n=Count("pk")).values_list("bill_date", "n"))
    failed = BillImport.objects.filter(status=BillImport.Status.FAILED).count()
    return ReconciliationFigures(
        open_count=totals["n"],
        difference_fen=totals["diff"],
        by_kind=by_kind,
        by_bill_date=by_day,
        oldest_bill_date=totals["oldest"],
        failed_imports=failed,
    )


def reconciliation_panel(now: datetime) -> Panel:
    days, _since = local_days(now)
    figures = reconciliation_open_for_ops()
    older = sum(n for d, n in figures.by_bill_date.items() if d < days[0])
    kinds = dict(ReconciliationCase.Kind.choices)
    return Panel(
        key="reconciliation",
        title="Reconciliation differences · 对账差异",
        figures=[
            Figure("Open cases · 未处理差异", figures.open_count, alert=figures.open_count > 0),
            Figure(
                "Money differing · 差异金额",
                figures.difference_fen,
                fen=True,
                alert=figures.difference_fen > 0,
            ),
            Figure(f"Open cases from before {days[0]:%m-%d} · 30天前", older, alert=older > 0),
            Figure(
                "Bills that failed to import · 账单导入失败",
                figures.failed_imports,
                alert=figures.failed_imports > 0,
            ),
        ],
        charts=[
            Chart(
                "Open cases by bill day · 按账单日的未处理差异",
                day_labels(days),
                [Series("Open cases", fill_days(days, figures.by_bill_date))],
            )
        ],
        note=(
            f"Oldest open bill day: {figures.oldest_bill_date:%Y-%m-%d}." if figures.oldest_bill_date else ""
        ),
        table_head=["Kind 类型", "Open 未处理"] if figures.by_kind else [],
        table_rows=[[kinds.get(k, k), str(n)] for k, n in sorted(figures.by_kind.items())],
        link=reverse("admin:payments_reconciliationcase_changelist") + "?status__exact=open",
    )


def funds_step_rows(backlog: list[StepBacklog]) -> list[list[str]]:
    """Table rows for the kinds with something not done (the settlement panel shows them)."""
    return [
        [b.label, str(b.open_count), fen_display(b.open_fen), str(b.failed_count), fen_display(b.failed_fen)]
        for b in backlog
        if b.open_count or b.failed_count
    ]

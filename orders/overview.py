"""The orders app's panels of the ops overview (``shop.overview``): sales per day, and
after-sales cases, disputes and refunds.

The selectors (``*_for_ops``) aggregate in SQL and return plain numbers, so tests assert
them against known data; the ``*_panel`` functions turn them into labelled figures and
charts. Days are local (Asia/Shanghai) calendar days.

Cost at 2 M orders (bench/ops_overview.py, bench/RESULTS.md): sales per day reads only the
last 30 days' paid orders through ``order_paid_at_idx`` (a partial index on ``paid_at``
carrying ``paid_fen``: an index-only scan); the after-sales queries read the open cases
(``status`` index) and the month's cases and refunds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from shop.money import fen_display
from shop.overview import Chart, Figure, Panel, Series, day_labels, fill_days, local_days
from shop.payments.models import Refund

from .models import AfterSale, Order
from .services.refunds import REFUND_PURPOSE


@dataclass(frozen=True)
class DaySales:
    day: date
    orders_count: int
    gmv_fen: int


def order_daily_sales_for_ops(*, since: datetime) -> dict[date, DaySales]:
    """Orders paid per local day since ``since``, with their GMV: what buyers paid
    (``paid_fen``, after coupons), counted on the day of payment. Orders refunded later
    still count (refunds have their own panel); unpaid and cancelled-unpaid orders do not."""
    rows = (
        Order.objects.filter(paid_at__gte=since)
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(orders_count=Count("*"), gmv_fen=Coalesce(Sum("paid_fen"), 0))  # *: index-only
    )
    return {r["day"]: DaySales(r["day"], r["orders_count"], r["gmv_fen"]) for r in rows}


@dataclass(frozen=True)
class AfterSalesFigures:
    open_count: int  # cases waiting for someone (requested, awaiting/shipped return, disputed)
    disputed_count: int  # of which waiting for ops
    disputed_fen: int
    refunds_in_flight_count: int  # every purpose: sent or to be sent to the gateway
    refunds_in_flight_fen: int
    refunds_failed_count: int  # every purpose: ops to act (admin "Send the refund again")
    refunds_failed_fen: int


def after_sales_figures_for_ops() -> AfterSalesFigures:
    """What is open now: cases by whether ops must rule, refunds in flight or failed."""
    cases = AfterSale.objects.filter(status__in=AfterSale.OPEN).aggregate(
        open_count=Count("pk"),
        disputed_count=Count("pk", filter=Q(status=AfterSale.Status.DISPUTED)),
        disputed_fen=Coalesce(Sum("amount_fen", filter=Q(status=AfterSale.Status.DISPUTED)), 0),
    )
    refunds = {
        r["status"]: r
        for r in Refund.objects.filter(status__in=(*Refund.IN_FLIGHT, Refund.Status.FAILED))
        .values("status")
        .annotate(n=Count("pk"), fen=Coalesce(Sum("amount_fen"), 0))
    }
    in_flight = [refunds[s] for s in Refund.IN_FLIGHT if s in refunds]
    failed = refunds.get(Refund.Status.FAILED, {"n": 0, "fen": 0})
    return AfterSalesFigures(
        open_count=cases["open_count"],
        disputed_count=cases["disputed_count"],
        disputed_fen=cases["disputed_fen"],
        refunds_in_flight_count=sum(r["n"] for r in in_flight),
        refunds_in_flight_fen=sum(r["fen"] for r in in_flight),
        refunds_failed_count=failed["n"],
        refunds_failed_fen=failed["fen"],
    )


@dataclass(frozen=True)
class AfterSalesDay:
    cases_opened: int
    disputes_open: int  # cases still waiting for ops, by the day the buyer escalated
    refunds_count: int  # order refunds completed that day
    refunds_fen: int


def after_sales_daily_for_ops(*, since: datetime) -> dict[date, AfterSalesDay]:
    """Per local day since ``since``: cases opened, disputes still open (by the day they
    were raised: a disputed case's ``decided_at`` is its escalation, its last move), and
    order refunds the gateway completed (count and fen)."""
    opened = dict(
        AfterSale.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    disputes = dict(
        AfterSale.objects.filter(status=AfterSale.Status.DISPUTED, decided_at__gte=since)
        .annotate(day=TruncDate("decided_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    refunds = {
        r["day"]: r
        for r in Refund.objects.filter(
            purpose=REFUND_PURPOSE, status=Refund.Status.SUCCEEDED, finished_at__gte=since
        )
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(n=Count("pk"), fen=Coalesce(Sum("amount_fen"), 0))
    }
    days = set(opened) | set(disputes) | set(refunds)
    return {
        d: AfterSalesDay(
            cases_opened=opened.get(d, 0),
            disputes_open=disputes.get(d, 0),
            refunds_count=refunds[d]["n"] if d in refunds else 0,
            refunds_fen=refunds[d]["fen"] if d in refunds else 0,
        )
        for d in days
    }


def disputes_oldest_for_ops(*, limit: int = 5) -> list[AfterSale]:
    """The disputes waiting longest for ops (no buyer data is read: ids, merchant, amount)."""
    return list(
        AfterSale.objects.filter(status=AfterSale.Status.DISPUTED)
        .select_related("merchant")
        .only("pk", "order_id", "amount_fen", "decided_at", "merchant__company_name")
        .order_by("decided_at", "pk")[:limit]
    )


def sales_panel(now: datetime) -> Panel:
    days, since = local_days(now)
    sales = order_daily_sales_for_ops(since=since)
    gmv = fill_days(days, {d: s.gmv_fen for d, s in sales.items()})
    counts = fill_days(days, {d: s.orders_count for d, s in sales.items()})
    labels = day_labels(days)
    return Panel(
        key="sales",
        title="GMV and orders per day · 每日成交额与订单数",
        figures=[
            Figure("GMV today · 今日成交额", gmv[-1], fen=True),
            Figure("Orders today · 今日订单", counts[-1]),
            Figure("GMV, 30 days · 近30天成交额", sum(gmv), fen=True),
            Figure("Orders, 30 days · 近30天订单", sum(counts)),
        ],
        charts=[
            Chart("GMV per day (paid, after coupons) · 每日成交额", labels, [Series("GMV", gmv, fen=True)]),
            Chart("Orders paid per day · 每日支付订单数", labels, [Series("Orders", counts)]),
        ],
        note="GMV is what buyers paid, on the day they paid; later refunds still count here.",
        link=reverse("admin:orders_order_changelist"),
    )


def after_sales_panel(now: datetime) -> Panel:
    days, since = local_days(now)
    figures = after_sales_figures_for_ops()
    daily = after_sales_daily_for_ops(since=since)
    labels = day_labels(days)

    def per_day(attr: str) -> list[int]:
        return fill_days(days, {d: getattr(v, attr) for d, v in daily.items()})

    disputes = disputes_oldest_for_ops()
    return Panel(
        key="after_sales",
        title="Refunds and disputes · 退款与纠纷",
        figures=[
            Figure("Open after-sales cases · 处理中售后", figures.open_count),
            Figure(
                "Disputes waiting for ops · 待平台裁决",
                figures.disputed_count,
                alert=figures.disputed_count > 0,
            ),
            Figure("Refunds in flight · 退款处理中", figures.refunds_in_flight_fen, fen=True),
            Figure(
                f"Refunds failed ({figures.refunds_failed_count}) · 退款失败",
                figures.refunds_failed_fen,
                fen=True,
                alert=figures.refunds_failed_count > 0,
            ),
        ],
        charts=[
            Chart(
                "After-sales per day · 每日售后",
                labels,
                [
                    Series("Cases opened 新增售后", per_day("cases_opened")),
                    Series("Refunds done 完成退款", per_day("refunds_count")),
                    Series("Open disputes 待裁决纠纷", per_day("disputes_open")),
                ],
            ),
            Chart(
                "Refunded per day · 每日退款金额",
                labels,
                [Series("Refunded", per_day("refunds_fen"), fen=True)],
            ),
        ],
        table_head=["Case 售后单", "Order 订单", "Merchant 商家", "Raised 发起", "Amount 金额"]
        if disputes
        else [],
        table_rows=[
            [
                str(case.pk),
                str(case.order_id),
                case.merchant.company_name,
                _local(case.decided_at),
                fen_display(case.amount_fen),
            ]
            for case in disputes
        ],
        link=reverse("admin:orders_aftersale_changelist") + "?status__exact=disputed",
    )


def _local(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%m-%d %H:%M") if moment else ""

"""The merchants app's panel of the ops overview (``shop.overview``): deposit coverage.

A merchant must hold, in its margin deposit, the standard (``Category.deposit_fen``) of
each category it sells in (its ``categories``): the highest of them. The panel lists the
merchants still trading (approved, suspended or leaving) whose deposit balance (the
``merchant_deposit`` ledger account) is below that. One query over merchants, their
categories and their deposit accounts: its cost follows the number of merchants, not orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from products.models import Category
from shop.ledger.models import Account
from shop.money import fen_display
from shop.overview import Chart, Figure, Panel, Series

from .models import Merchant

TRADING = (Merchant.Status.APPROVED, Merchant.Status.SUSPENDED, Merchant.Status.EXITING)


@dataclass(frozen=True)
class MerchantShortfall:
    merchant_id: int
    company_name: str
    status: str
    balance_fen: int
    required_fen: int

    @property
    def short_fen(self) -> int:
        return self.required_fen - self.balance_fen


@dataclass(frozen=True)
class CategoryCoverage:
    category_id: int
    name: str
    deposit_fen: int
    merchants_count: int  # trading merchants registered in it
    below_count: int  # of which hold less than its standard


@dataclass(frozen=True)
class DepositCoverage:
    merchants_count: int  # trading merchants with at least one category
    below: list[MerchantShortfall]  # largest shortfall first
    categories: list[CategoryCoverage]


def _deposit_balance():
    return Coalesce(
        Subquery(
            Account.objects.filter(
                kind=Account.Kind.MERCHANT_DEPOSIT,
                owner_type=Account.OwnerType.MERCHANT,
                owner_id=OuterRef("pk"),
            ).values("balance_fen")[:1]
        ),
        Value(0),
        output_field=IntegerField(),
    )


def deposit_coverage_for_ops() -> DepositCoverage:
    """Trading merchants against their categories' deposit standard (see the module)."""
    merchants = list(
        Merchant.objects.filter(status__in=TRADING, categories__isnull=False)
        .annotate(required_fen=Max("categories__deposit_fen"), balance_fen=_deposit_balance())
        .values("pk", "company_name", "status", "required_fen", "balance_fen")
    )
    balance = {m["pk"]: m["balance_fen"] for m in merchants}
    below = sorted(
        (
            MerchantShortfall(m["pk"], m["company_name"], m["status"], m["balance_fen"], m["required_fen"])
            for m in merchants
            if m["balance_fen"] < m["required_fen"]
        ),
        key=lambda s: (-s.short_fen, s.merchant_id),
    )
    pairs = Merchant.categories.through.objects.filter(merchant__status__in=TRADING).values_list(
        "category_id", "merchant_id"
    )
    categories = {
        c.pk: c for c in Category.objects.filter(merchants__status__in=TRADING).annotate(n=Count("pk"))
    }
    below_by_category: dict[int, int] = {}
    for category_id, merchant_id in pairs:
        if balance.get(merchant_id, 0) < categories[category_id].deposit_fen:
            below_by_category[category_id] = below_by_category.get(category_id, 0) + 1
    coverage = [
        CategoryCoverage(c.pk, c.name, c.deposit_fen, c.n, below_by_category.get(c.pk, 0))
        for c in sorted(categories.values(), key=lambda c: (c.sort_order, c.pk))
    ]
    return DepositCoverage(merchants_count=len(merchants), below=below, categories=coverage)


def deposit_panel(now: datetime) -> Panel:
    coverage = deposit_coverage_for_ops()
    statuses = dict(Merchant.Status.choices)
    top = coverage.categories[:12]
    return Panel(
        key="deposits",
        title="Deposit coverage · 保证金覆盖",
        figures=[
            Figure("Trading merchants · 经营中商家", coverage.merchants_count),
            Figure("Below their standard · 保证金不足", len(coverage.below), alert=bool(coverage.below)),
            Figure(
                "Total shortfall · 缺口合计",
                sum(s.short_fen for s in coverage.below),
                fen=True,
                alert=bool(coverage.below),
            ),
        ],
        charts=[
            Chart(
                "Merchants per category: covered and below the standard · 各类目保证金达标情况",
                [c.name for c in top],
                [
                    Series("Covered 达标", [c.merchants_count - c.below_count for c in top]),
                    Series("Below 不足", [c.below_count for c in top]),
                ],
            )
        ],
        table_head=["Merchant 商家", "Status", "Deposit 余额", "Standard 标准", "Short 缺口"]
        if coverage.below
        else [],
        table_rows=[
            [
                s.company_name,
                str(statuses.get(s.status, s.status)),
                fen_display(s.balance_fen),
                fen_display(s.required_fen),
                fen_display(s.short_fen),
            ]
            for s in coverage.below[:10]
        ],
        note=f"{len(coverage.below) - 10} more below the standard." if len(coverage.below) > 10 else "",
        link=reverse("admin:merchants_merchant_changelist"),
    )

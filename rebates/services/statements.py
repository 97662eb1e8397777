"""Daily merchant statements (docs/design.md "Merchant money", docs/api.md ``/merchant/statements``).

A statement is one merchant's Asia/Shanghai day of money frozen at the gateway under profit
sharing: the lines are the entries of the merchant's ``merchant_frozen`` account (the
transaction kinds of docs/merchant-money.md), plus information lines (held by open cases,
shares returned, refunds after release, deposit deductions). Written set-based, for every
merchant at once (``rebates/sql.py``), and checked against the ledger before it commits.

Idempotent: writing a day again keeps each statement row and rewrites its lines and figures
from the same postings, so a re-run gives the same statement (the postings of a past day
never change: a transaction's ``created_at`` is when it was written).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date as Date
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from rebates import sql
from rebates.errors import StatementsDoNotBalance
from rebates.models import MerchantStatement, MerchantStatementLine
from shop.ledger.models import Account

logger = logging.getLogger("rebates.statements")

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A posting's created_at is taken when it is written, and it commits a moment later: a day
# is written only this long after its end, so a posting of 23:59:59 is never missed.
STATEMENT_GRACE = timedelta(minutes=10)
# The sweeper catches up at most this many missed days a run (a month down takes a few runs).
CATCH_UP_DAYS_PER_RUN = 31

Progress = Callable[[str, int], None]


def statement_day_bounds(day: Date) -> tuple[datetime, datetime]:
    """The day's start and end (Asia/Shanghai midnight to midnight) as aware datetimes."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def merchant_statements_write(*, date: Date, progress: Progress | None = None) -> int:
    """Write every merchant's statement for ``date`` (an Asia/Shanghai day); returns how many.

    One transaction: statements upserted, the day's lines replaced, figures summed from the
    lines, then checked — each closing against the merchant's ``merchant_frozen`` balance at
    the day's end (negated) and each opening against the closing of the merchant's statement
    before it. Any disagreement (or a posting on ``merchant_frozen`` of a kind the contract
    does not know) raises ``StatementsDoNotBalance`` and nothing is written. A day-level
    advisory lock makes concurrent writers of one day queue.
    """
    report = progress or (lambda stage, count: None)
    start, end = statement_day_bounds(date)
    with transaction.atomic():
        sql.day_lock(date=date)
        unknown = sql.unknown_movements(start=start, end=end)
        if unknown:
            raise StatementsDoNotBalance(
                "Postings on merchant_frozen that statements do not know: "
                + ", ".join(f"{kind or '?'} (ref {ref or '-'}) ×{count}" for kind, ref, count in unknown),
                date=str(date),
            )
        count = sql.statements_upsert(date=date, start=start, end=end, now=timezone.now())
        report("statements", count)
        report("old lines removed", sql.lines_delete(date=date))
        report("frozen-fund lines", sql.lines_insert_movements(date=date, start=start, end=end))
        report("share lines", sql.lines_insert_shares(date=date, start=start, end=end))
        report("held lines", sql.lines_insert_held(date=date, end=end))
        report(
            "refund-after-release lines",
            sql.lines_insert_refunds_after_release(date=date, start=start, end=end),
        )
        report("deduction lines", sql.lines_insert_deductions(date=date, start=start, end=end))
        report("figures", sql.statements_update_figures(date=date, start=start))
        wrong = sql.statements_disagreeing(date=date, end=end)
        if wrong:
            raise StatementsDoNotBalance(
                f"Statements of {date} disagree with the ledger: "
                + "; ".join(
                    f"merchant {m} {what} {int(found)} ≠ {int(expected)}"
                    for m, what, found, expected in wrong[:20]
                ),
                date=str(date),
                rows=[(m, what, int(found), int(expected)) for m, what, found, expected in wrong],
            )
        share_kinds = [
            MerchantStatementLine.Kind.SHARE_COMMISSION,
            MerchantStatementLine.Kind.SHARE_PLATFORM_FEE,
        ]
        if MerchantStatementLine.objects.filter(
            statement__date=date, kind__in=share_kinds, amount_fen__lt=0
        ).exists():
            raise StatementsDoNotBalance(
                "A share_finished posting's merchant_receivable line exceeds its merchant_frozen line: "
                "the commission/fee split (docs/merchant-money.md) no longer holds.",
                date=str(date),
            )
        report("checked", count)
    return count


def statements_due_days(*, now: datetime) -> list[Date]:
    """The days to write as of ``now``: from the day after the latest statement (or the day
    the first ``merchant_frozen`` account appeared) to yesterday (Asia/Shanghai), once
    ``STATEMENT_GRACE`` has passed since the day's end; at most ``CATCH_UP_DAYS_PER_RUN``."""
    last = (now - STATEMENT_GRACE).astimezone(SHANGHAI).date() - timedelta(days=1)
    latest = MerchantStatement.objects.aggregate(latest=Max("date"))["latest"]
    if latest is not None:
        first = latest + timedelta(days=1)
    else:
        since = Account.objects.filter(kind=Account.Kind.MERCHANT_FROZEN).aggregate(since=Min("created_at"))[
            "since"
        ]
        if since is None:
            return []
        first = since.astimezone(SHANGHAI).date()
    days: list[Date] = []
    day = first
    while day <= last and len(days) < CATCH_UP_DAYS_PER_RUN:
        days.append(day)
        day += timedelta(days=1)
    return days


def merchant_statements_write_due(now: datetime) -> int:
    """Sweeper: write yesterday's statements once the day is over, and any day missed before
    it (in order, so each opening follows the closing before it). Returns the days written.
    Statements are written by PostgreSQL's SQL (``rebates/sql.py``): on the embedded SQLite
    demo — paid by profit sharing, so it has ``merchant_frozen`` accounts — nothing is written."""
    if connection.vendor != "postgresql":
        return 0
    days = statements_due_days(now=now)
    for day in days:
        count = merchant_statements_write(date=day)
        logger.info("merchant statements of %s written (%d merchants)", day, count)
    return len(days)

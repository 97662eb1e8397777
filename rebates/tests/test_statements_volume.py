"""Statements at volume: a day of many orders across many merchants, written set-based, with
every figure checked against an independent ORM aggregation of the ledger (the SQL's twin).

The postings are generated in SQL (``generate_series``), shaped as the profit-sharing
services will post them (docs/merchant-money.md; the stand-in is ``frozen_funds``), plus
unrelated postings of the same day that statements must ignore. Always run with 3,000 orders;
``STATEMENTS_VOLUME=100000`` runs the benchmark of bench/results/statements.md:

    STATEMENTS_VOLUME=100000 /work/main/.venv/bin/pytest rebates/tests/test_statements_volume.py -s
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum

from merchants.tests.factories import MerchantFactory
from rebates.models import MerchantStatement, MerchantStatementLine
from rebates.services.statements import SHANGHAI, merchant_statements_write
from rebates.tests import frozen_funds as ff
from shop.ledger.models import Account, Entry, Transaction
from shop.ledger.services import account_get_or_create

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 2)
MERCHANTS = 40
PAID, COMMISSION, FEE = 1_990, 199, 60
REST = PAID - COMMISSION - FEE


def _generate(orders: int) -> dict[int, int]:
    """``orders`` orders on DAY (plus one tenth paid the day before, so openings are not 0):
    each paid; 9 in 10 shared; 4 in 5 of those released; 1 in 10 subsidised 100 fen; 1 in 20
    refunded 500 from frozen funds; and as many unrelated platform postings. Returns
    merchant index → merchant id."""
    merchants = {i: MerchantFactory().pk for i in range(MERCHANTS)}
    frozen = {i: account_get_or_create(ref=ff.frozen(m)).pk for i, m in merchants.items()}
    receivable = {i: account_get_or_create(ref=ff.receivable(m)).pk for i, m in merchants.items()}
    gateway, revenue, marketing = (
        account_get_or_create(ref=r).pk for r in (ff.GATEWAY, ff.REVENUE, ff.MARKETING)
    )
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=SHANGHAI)
    before = orders // 10
    Account.objects.filter(pk__in=[*frozen.values(), *receivable.values()]).update(
        created_at=start - timedelta(days=2)
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE vm (i int PRIMARY KEY, frozen bigint, receivable bigint)")
        cursor.executemany(
            "INSERT INTO vm VALUES (%s, %s, %s)", [(i, frozen[i], receivable[i]) for i in merchants]
        )
        step = 86_000.0 / orders  # spread over the day, clear of midnight

        def post(kind: str, where: str, at: str, lines: list[tuple[str, str]]) -> None:
            """One posting per order ``o`` matching ``where``: ``lines`` are (account sql, amount sql)."""
            cursor.execute(
                f"""
                INSERT INTO ledger_transaction (idempotency_key, kind, memo, ref_type, ref_id, created_at)
                SELECT 'v:{kind}:' || o, '{kind}', '', 'order', o, {at}
                FROM generate_series(%s, %s) o WHERE {where}
                """,  # noqa: S608
                [-before, orders],
            )
            for account, amount in lines:
                cursor.execute(
                    f"""
                    INSERT INTO ledger_entry (transaction_id, account_id, amount_fen)
                    SELECT t.id, {account}, {amount}
                    FROM ledger_transaction t JOIN vm ON vm.i = abs(t.ref_id) %% {MERCHANTS}
                    WHERE t.kind = '{kind}' AND t.idempotency_key LIKE 'v:%%'
                    """,  # noqa: S608
                    (),
                )

        def at(offset: int = 0) -> str:
            return f"'{start.isoformat()}'::timestamptz + ({offset} + o * {step}) * interval '1 second'"

        post("order_paid_shared", "true", at(), [("vm.frozen", f"-{PAID}"), ("vm.receivable", f"{PAID}")])
        post("subsidy_paid", "o %% 10 = 3", at(1), [("vm.frozen", "-100"), (str(gateway), "100")])
        post(
            "share_finished",
            "o > 0 AND o %% 10 <> 0",
            at(1),
            [
                ("vm.frozen", f"{COMMISSION + FEE}"),
                (str(gateway), f"-{COMMISSION + FEE}"),
                ("vm.receivable", f"-{FEE}"),
                (str(revenue), f"{FEE}"),
            ],
        )
        post(
            "unfreeze_confirmed",
            "o > 0 AND o %% 10 <> 0 AND o %% 5 <> 1",
            at(2),
            [("vm.frozen", f"{REST}"), ("vm.receivable", f"-{REST}")],
        )
        post(
            "refund_from_frozen",
            "o > 0 AND o %% 20 = 0",
            at(1),
            [("vm.frozen", "500"), (str(gateway), "-500")],
        )
        # Unrelated postings of the same day (wallets, coupons, …): statements must not read them.
        cursor.execute(
            f"""
            WITH t AS (
                INSERT INTO ledger_transaction (idempotency_key, kind, memo, ref_type, ref_id, created_at)
                SELECT 'noise:' || o, 'coupon_spent', '', 'order', o, {at()}
                FROM generate_series(1, %s) o RETURNING id
            )
            INSERT INTO ledger_entry (transaction_id, account_id, amount_fen)
            SELECT id, {marketing}, -7 FROM t UNION ALL SELECT id, {revenue}, 7 FROM t
            """,  # noqa: S608
            [orders],
        )
        cursor.execute(
            """
            UPDATE ledger_account a SET balance_fen = s.total
            FROM (SELECT account_id, SUM(amount_fen) AS total FROM ledger_entry GROUP BY account_id) s
            WHERE a.id = s.account_id
            """
        )
        cursor.execute("ANALYZE")
    return merchants


def _orm_twin(merchants: dict[int, int]) -> dict[int, dict[str, int]]:
    """Each merchant's figures of DAY from the ledger through the ORM, independently of the SQL."""
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=SHANGHAI)
    end = start + timedelta(days=1)
    entries = Entry.objects.filter(account__kind=Account.Kind.MERCHANT_FROZEN)
    out: dict[int, dict[str, int]] = {}
    for merchant_id in merchants.values():
        mine = entries.filter(account__owner_id=merchant_id)
        day = mine.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)

        def total(kind: str, qs=day) -> int:
            return qs.filter(transaction__kind=kind).aggregate(s=Sum("amount_fen"))["s"] or 0

        fee = -(
            Entry.objects.filter(
                account__kind=Account.Kind.MERCHANT_RECEIVABLE,
                account__owner_id=merchant_id,
                transaction__kind="share_finished",
                transaction__created_at__gte=start,
                transaction__created_at__lt=end,
            ).aggregate(s=Sum("amount_fen"))["s"]
            or 0
        )
        out[merchant_id] = {
            "opening_fen": -(
                mine.filter(transaction__created_at__lt=start).aggregate(s=Sum("amount_fen"))["s"] or 0
            ),
            "sales_fen": -total("order_paid_shared"),
            "subsidy_fen": -total("subsidy_paid"),
            "commission_fen": total("share_finished") - fee,
            "platform_fee_fen": fee,
            "refunds_fen": total("refund_from_frozen"),
            "released_fen": total("unfreeze_confirmed"),
            "closing_fen": -(
                mine.filter(transaction__created_at__lt=end).aggregate(s=Sum("amount_fen"))["s"] or 0
            ),
        }
    return out


def _run(orders: int) -> float:
    merchants = _generate(orders)
    stages: list[tuple[str, int, float]] = []
    started = time.monotonic()
    count = merchant_statements_write(
        date=DAY, progress=lambda s, n: stages.append((s, n, time.monotonic() - started))
    )
    elapsed = time.monotonic() - started
    assert count == MERCHANTS
    for stage, n, t in stages:
        print(f"  {stage}: {n} ({t:.2f} s)")  # noqa: T201 (the benchmark's report)

    # Every figure equals its ORM twin, and the whole day adds up.
    twin = _orm_twin(merchants)
    statements = {s.merchant_id: s for s in MerchantStatement.objects.filter(date=DAY)}
    for merchant_id, figures in twin.items():
        assert {f: getattr(statements[merchant_id], f) for f in figures} == figures, merchant_id
    assert sum(s.sales_fen for s in statements.values()) == (orders + 1) * PAID  # orders 0..N on DAY
    lines = MerchantStatementLine.objects.filter(statement__date=DAY).aggregate(
        n=Count("id"), shares=Count("id", filter=Q(kind="share_commission"))
    )
    shared = Transaction.objects.filter(kind="share_finished", created_at__date=DAY).count()
    assert lines["shares"] == shared
    # A re-run writes the same statements.
    again = time.monotonic()
    merchant_statements_write(date=DAY)
    rerun = time.monotonic() - again
    assert {s.merchant_id: s.closing_fen for s in MerchantStatement.objects.filter(date=DAY)} == {
        m: f["closing_fen"] for m, f in twin.items()
    }
    assert MerchantStatementLine.objects.filter(statement__date=DAY).count() == lines["n"]
    summary = (
        f"{orders} orders, {lines['n']} lines, {MERCHANTS} merchants: {elapsed:.2f} s (re-run {rerun:.2f} s)"
    )
    print(f"  {summary}")  # noqa: T201
    return elapsed


def test_a_day_of_3000_orders_matches_its_orm_twin():
    _run(3_000)


@pytest.mark.skipif(not os.environ.get("STATEMENTS_VOLUME"), reason="benchmark: set STATEMENTS_VOLUME=100000")
def test_a_day_of_many_orders_is_written_in_seconds():
    elapsed = _run(int(os.environ["STATEMENTS_VOLUME"]))
    assert elapsed < 30

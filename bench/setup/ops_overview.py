"""``bench/ops_overview.py``'s seed and measurement, run in its Django process.

Seed: one template row of each table through the ORM (so every NOT NULL column has a real
value), then clones in SQL (``INSERT … SELECT … generate_series``), each with its own id and
the columns that matter to the overview varied by the series number ``g``:

- orders paid over the last 365 days (uniformly), ~2 % cancelled unpaid, the last 14 days
  still paid/shipped/received, older ones completed (5 % of them refunded later), 200 received
  past their after-sales window; every completed order settled but 300;
- 3 % of orders with an after-sales case (500 waiting for the merchant, 120 disputed), as many
  order refunds (a few in flight or failed); 100,000 confirmed share steps, 400 open, 30 failed;
- 2,000 reconciliation cases (300 open); 2,000 merchants in 1–3 of 20 categories, 10 % below
  their deposit standard.
"""

from __future__ import annotations

import statistics
import time


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [c for (c,) in cursor.fetchall() if c != "id"]


def _clone(cursor, table: str, template_id: int, count: int, replace: dict[str, str]) -> None:
    """``count`` copies of row ``template_id`` of ``table``; ``replace`` gives SQL for some
    columns in terms of ``g`` (1 … count) and ``t`` (the template row)."""
    cols = _columns(cursor, table)
    select = ", ".join(replace.get(c, f"t.{c}") for c in cols).replace("%", "%%")  # params follow
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} "  # noqa: S608 - our own names
        f"FROM {table} t, generate_series(1, %s) g WHERE t.id = %s",
        [count, template_id],
    )


def seed(*, orders: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from groupstore.tests.factories import make_store
    from merchants.models import Merchant
    from orders.models import AfterSale, Order
    from products.models import Category
    from products.tests.factories import SkuFactory
    from rebates.tests.helpers import make_paid_order
    from shop.ledger.models import Account
    from shop.payments.models import BillImport, FundsStep, PaymentPart, ReconciliationCase, Refund

    started = time.perf_counter()
    store, _, buyers = make_store(members=1, name="基准团购群")
    sku = SkuFactory(price_fen=2990, on_hand=10)
    order = make_paid_order(buyer=buyers[0], store=store, sku=sku)
    merchant = sku.merchant
    now = timezone.now()
    case = AfterSale.objects.create(
        order=order, buyer=buyers[0], merchant=merchant, kind="refund", amount_fen=100, reason="bench"
    )
    refund = Refund.objects.create(
        payment=order.payment,
        purpose="order_refund",
        amount_fen=100,
        total_fen=order.paid_fen,
        key="bench-template",
        out_refund_no="BENCHT",
        status="succeeded",
        finished_at=now,
    )
    part = PaymentPart.objects.filter(order_id=order.pk).first() or PaymentPart.objects.create(
        payment=order.payment,
        order_id=order.pk,
        merchant_id=merchant.pk,
        sub_mchid="s",
        out_trade_no="P1",
        amount_fen=order.paid_fen,
    )
    step = FundsStep.objects.create(
        kind="share",
        part=part,
        order_id=order.pk,
        merchant_id=merchant.pk,
        out_no="STEMPLATE",
        amount_fen=0,
        status="confirmed",
    )
    bill = BillImport.objects.create(gateway="sandbox", kind="trade", bill_date=now.date(), status="done")
    rcase = ReconciliationCase.objects.create(
        kind="amount_differs",
        gateway="sandbox",
        bill_kind="trade",
        key="KT",
        bill_date=now.date(),
        bill_import=bill,
        our_amount_fen=100,
        bill_amount_fen=90,
    )
    categories = [
        Category.objects.create(name=f"类目{i}", deposit_fen=100_000 * (1 + i % 5)) for i in range(20)
    ]
    made = time.perf_counter()
    n = orders - 1
    with connection.cursor() as c:
        # Orders: day offset d = g % 365 (paid at now − d days − a few minutes); status by age.
        paid = "(now() - ((g % 365) || ' days')::interval - ((g % 1440) || ' minutes')::interval)"
        status = (
            "CASE WHEN g % 50 = 0 THEN 'cancelled' "
            "WHEN g % 365 < 14 THEN (ARRAY['paid','shipped','received'])[1 + g % 3] "
            "WHEN g % 20 = 1 THEN 'refunded' ELSE 'completed' END"
        )
        _clone(
            c,
            "orders_order",
            order.pk,
            n,
            {
                "status": status,
                "paid_at": f"CASE WHEN g % 50 = 0 THEN NULL ELSE {paid} END",
                "created_at": paid,
                "paid_fen": "100 + (g % 97) * 100",
                "sale_fen": "100 + (g % 97) * 100",
                "list_fen": "100 + (g % 97) * 100",
                "completed_at": (
                    f"CASE WHEN g % 50 <> 0 AND g % 365 >= 14 THEN {paid} + interval '10 days' END"
                ),
                "after_sales_closes_at": f"{paid} + interval '10 days'",
            },
        )
        # 200 received orders past their window (due for completion).
        c.execute(
            "UPDATE orders_order SET status = 'received', completed_at = NULL WHERE id IN "
            "(SELECT id FROM orders_order WHERE status = 'completed' ORDER BY id LIMIT 200)"
        )
        cloned = time.perf_counter()
        c.execute(
            "INSERT INTO rebates_ordersettlement (order_id, merchant_id, commission_fen, "
            "merchant_payable_fen, platform_fee_fen, settled_at) "
            "SELECT id, merchant_id, paid_fen / 10, paid_fen - paid_fen / 10, 0, "
            "completed_at FROM orders_order WHERE status = 'completed' ORDER BY id OFFSET 300"
        )
        settled = time.perf_counter()
        n_cases = orders * 3 // 100
        # After-sales: every 33rd order; status mostly final, some open.
        c.execute(
            "CREATE TEMP TABLE bench_case_orders AS SELECT id, row_number() OVER (ORDER BY id) AS g, "
            "created_at FROM orders_order WHERE id %% 33 = 0 AND paid_at IS NOT NULL LIMIT %s",
            [n_cases],
        )
        cols = _columns(c, "orders_aftersale")
        rep = {
            "order_id": "o.id",
            "created_at": "o.created_at + interval '3 days'",
            "updated_at": "o.created_at + interval '4 days'",
            "decided_at": "o.created_at + interval '4 days'",
            "status": "CASE WHEN o.g <= 500 THEN 'requested' WHEN o.g <= 620 THEN 'disputed' "
            "WHEN o.g %% 3 = 0 THEN 'closed' ELSE 'refunded' END",
        }
        c.execute(
            f"INSERT INTO orders_aftersale ({', '.join(cols)}) SELECT "  # noqa: S608
            f"{', '.join(rep.get(col, 't.' + col) for col in cols)} "
            "FROM bench_case_orders o, orders_aftersale t WHERE t.id = %s",
            [case.pk],
        )
        cols = _columns(c, "payments_refund")
        rep = {
            "key": "'bench-r-' || o.g",
            "out_refund_no": "'BR' || o.g",
            "ref_id": "o.id",
            "created_at": "o.created_at + interval '4 days'",
            "updated_at": "o.created_at + interval '4 days'",
            "finished_at": "CASE WHEN o.g <= 40 THEN NULL ELSE o.created_at + interval '4 days' END",
            "status": "CASE WHEN o.g <= 30 THEN 'processing' WHEN o.g <= 40 THEN 'failed' "
            "ELSE 'succeeded' END",
        }
        c.execute(
            f"INSERT INTO payments_refund ({', '.join(cols)}) SELECT "  # noqa: S608
            f"{', '.join(rep.get(col, 't.' + col) for col in cols)} "
            "FROM bench_case_orders o, payments_refund t WHERE t.id = %s",
            [refund.pk],
        )
        _clone(
            c,
            "payments_fundsstep",
            step.pk,
            min(100_430, orders),
            {
                "out_no": "'S' || g",
                "order_id": "g",
                "status": "CASE WHEN g <= 400 THEN (ARRAY['pending','processing'])[1 + g % 2] "
                "WHEN g <= 430 THEN 'failed' ELSE 'confirmed' END",
                "kind": "(ARRAY['share','unfreeze','share_return'])[1 + g % 3]",
            },
        )
        _clone(
            c,
            "payments_reconciliationcase",
            rcase.pk,
            2000,
            {
                "key": "'K' || g",
                "status": "CASE WHEN g <= 300 THEN 'open' ELSE 'resolved' END",
                "bill_date": "current_date - (g % 60)",
                "kind": "(ARRAY['missing_ours','amount_differs'])[1 + g % 2]",
            },
        )
        _clone(
            c,
            "merchants_merchant",
            merchant.pk,
            2000,
            {"company_name": "'基准商家' || g", "status": "'approved'"},
        )
        c.execute(
            "INSERT INTO merchants_merchant_categories (merchant_id, category_id) "
            "SELECT m.id, (%s::bigint[])[1 + (m.id + k) %% 20] "
            "FROM merchants_merchant m, generate_series(0, m.id %% 3) k",
            [[cat.pk for cat in categories]],
        )
        c.execute(
            "INSERT INTO ledger_account (created_at, updated_at, kind, owner_type, owner_id, balance_fen) "
            "SELECT now(), now(), %s, %s, m.id, CASE WHEN m.id %% 10 = 0 THEN 50000 ELSE 1000000 END "
            "FROM merchants_merchant m ON CONFLICT DO NOTHING",
            [Account.Kind.MERCHANT_DEPOSIT, Account.OwnerType.MERCHANT],
        )
        for table in (
            "orders_order",
            "rebates_ordersettlement",
            "orders_aftersale",
            "payments_refund",
            "payments_fundsstep",
            "payments_reconciliationcase",
            "merchants_merchant",
            "ledger_account",
        ):
            c.execute(f"VACUUM ANALYZE {table}")
    return {
        "orders": Order.objects.count(),
        "merchants": Merchant.objects.count(),
        "templates_s": round(made - started, 1),
        "orders_s": round(cloned - made, 1),
        "settlements_s": round(settled - cloned, 1),
        "rest_s": round(time.perf_counter() - settled, 1),
    }


def measure(*, runs: int = 5) -> dict:
    """Each panel's selectors (and the whole overview), uncached: median and best of ``runs``, ms."""
    from django.utils import timezone

    from merchants.overview import deposit_coverage_for_ops
    from orders.overview import (
        after_sales_daily_for_ops,
        after_sales_figures_for_ops,
        order_daily_sales_for_ops,
    )
    from rebates.overview import settlement_backlog_for_ops
    from rebates.services.settlement import unsettled_completed_order_ids
    from shop.overview import local_days, overview_build
    from shop.payments.overview import funds_step_backlog_for_ops, reconciliation_open_for_ops

    now = timezone.now()
    _, since = local_days(now)
    targets = {
        "GMV and orders per day": lambda: order_daily_sales_for_ops(since=since),
        "Settlement backlog (orders)": lambda: settlement_backlog_for_ops(now=now, since=since),
        "Profit-sharing backlog (funds steps)": funds_step_backlog_for_ops,
        "Refunds and disputes (open now)": after_sales_figures_for_ops,
        "Refunds and disputes (per day)": lambda: after_sales_daily_for_ops(since=since),
        "Deposit coverage": deposit_coverage_for_ops,
        "Reconciliation differences": reconciliation_open_for_ops,
        "Whole overview (5 panels, SVG data)": lambda: overview_build(now),
        # Not the overview's: the settlement catch-up sweeper's own query (every minute), for
        # comparison — the whole table's anti-join the panel avoids by its 30-day window.
        "(sweeper) unsettled_completed_order_ids": lambda: unsettled_completed_order_ids(
            completed_before=now, limit=2_000
        ),
    }
    results = {}
    for name, target in targets.items():
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            target()
            times.append((time.perf_counter() - t0) * 1000)
        results[name] = {"median_ms": round(statistics.median(times), 1), "best_ms": round(min(times), 1)}
    return results


def explain() -> str:
    """PostgreSQL's plans of the two order queries (what the indexes do)."""
    from django.utils import timezone

    from orders.models import Order
    from shop.overview import local_days

    now = timezone.now()
    _, since = local_days(now)
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    sales = Order.objects.filter(paid_at__gte=since).annotate(day=TruncDate("paid_at")).values("day")
    plans = [sales.annotate(n=Count("*"), s=Sum("paid_fen")).explain(analyze=True)]
    from django.db.models import Exists, OuterRef

    from rebates.models import OrderSettlement
    from rebates.overview import settlement_backlog_for_ops  # noqa: F401 - the query below is its own

    unsettled = Order.objects.filter(status=Order.Status.COMPLETED, completed_at__gte=since).filter(
        ~Exists(OrderSettlement.objects.filter(order_id=OuterRef("pk")))
    )
    plans.append(unsettled.values("pk").explain(analyze=True))
    return "\n\n".join(plans)

"""``bench/settlement.py``'s measured steps and checks, run in a Django process of their own."""

from __future__ import annotations

import os
import time


def check() -> dict:
    """The books and the settlement facts, as plain numbers."""
    from django.core.management import call_command
    from django.db import connection

    out = {}
    started = time.perf_counter()
    try:
        call_command("ledger_check", stdout=open(os.devnull, "w"))  # noqa: SIM115
        out["ledger_check"] = "passes"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["ledger_check"] = f"FAILS: {exc}"
    out["ledger_check_s"] = round(time.perf_counter() - started, 2)
    queries = {
        "orders_completed": "SELECT count(*) FROM orders_order WHERE status = 'completed'",
        "orders_settled": "SELECT count(*) FROM rebates_ordersettlement",
        "settle_transactions": (
            "SELECT count(*) FROM ledger_transaction WHERE idempotency_key LIKE 'order:%%:settle'"
        ),
        "orders_settled_twice": (
            "SELECT count(*) FROM (SELECT ref_id FROM ledger_transaction WHERE kind = 'commission_settled' "
            "GROUP BY ref_id HAVING count(*) > 1) t"
        ),
        "accruals_pending": "SELECT count(*) FROM rebates_accrual WHERE status = 'pending'",
        "pending_wallet_fen": (
            "SELECT coalesce(sum(balance_fen), 0) FROM ledger_account WHERE kind = 'user_pending'"
        ),
        "pending_wallets_off_accruals": (
            "SELECT count(*) FROM ledger_account a LEFT JOIN (SELECT beneficiary_id, "
            "sum(amount_fen - cancelled_fen) AS fen FROM rebates_accrual WHERE status = 'pending' "
            "AND beneficiary_id IS NOT NULL GROUP BY beneficiary_id) p ON p.beneficiary_id = a.owner_id "
            "WHERE a.kind = 'user_pending' AND a.balance_fen <> coalesce(p.fen, 0)"
        ),
        "settlement_runs": "SELECT count(*) FROM rebates_settlementrun",
        "share_rows": "SELECT count(*) FROM payments_fundsstep WHERE kind = 'share'",
        "orders_with_two_shares": (
            "SELECT count(*) FROM (SELECT order_id FROM payments_fundsstep WHERE kind = 'share' "
            "GROUP BY order_id HAVING count(*) > 1) t"
        ),
        "shared_orders": "SELECT count(*) FROM payments_paymentpart",
    }
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            out[name] = int(cursor.fetchone()[0])
    return out


def _park_sends() -> None:
    """Shared orders: settlement's after-commit sends go to the parked queue (``parked_celery``)."""
    if os.environ.get("BENCH_PARKED_QUEUE"):
        from bench.parked_celery import park_funds_steps

        park_funds_steps(os.environ["BENCH_PARKED_QUEUE"])


def _done(shared: int) -> int:
    """Orders settled so far (shared: share rows written)."""
    from django.db.models import Sum

    from rebates.models import SettlementRun
    from shop.payments.models import FundsStep

    if shared:
        return FundsStep.objects.filter(kind=FundsStep.Kind.SHARE).count()
    # Summed over the batches' run rows (hundreds), not a count of the settlement rows:
    # counting 100,000 rows ten times a second took CPU from the workers being measured.
    return SettlementRun.objects.aggregate(n=Sum("orders_settled"))["n"] or 0


def inline(*, batch: int, shared: int = 0) -> dict:
    """(a) ``orders_settle`` on batches in pk order, in this process."""
    _park_sends()
    from orders.models import Order
    from rebates.services.settlement import orders_settle

    ids = list(
        Order.objects.filter(status=Order.Status.COMPLETED).order_by("pk").values_list("pk", flat=True)
    )
    started = time.perf_counter()
    settled = 0
    for start in range(0, len(ids), batch):
        settled += orders_settle(order_ids=ids[start : start + batch])
    elapsed = time.perf_counter() - started
    settled = _done(shared) if shared else settled
    return {"orders": settled, "seconds": round(elapsed, 2), "rate": round(settled / elapsed)}


def celery(*, batch: int, timeout: float, shared: int = 0) -> dict:
    """(b) the same batches as ``orders_settle_task`` messages; waits until every order is done."""
    from orders.models import Order
    from rebates.tasks import orders_settle_task

    ids = list(
        Order.objects.filter(status=Order.Status.COMPLETED).order_by("pk").values_list("pk", flat=True)
    )
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        orders_settle_task.delay(ids[start : start + batch])
    enqueued = time.perf_counter() - started
    deadline = started + timeout
    done = 0
    while time.perf_counter() < deadline:
        done = _done(shared)
        if done >= len(ids):
            break
        time.sleep(0.25 if shared else 0.1)
    elapsed = time.perf_counter() - started
    return {
        "orders": done,
        "messages": -(-len(ids) // batch),
        "enqueue_s": round(enqueued, 2),
        "seconds": round(elapsed, 2),
        "rate": round(done / elapsed),
        "complete": done >= len(ids),
    }


# --- the driver ---------------------------------------------------------------------------

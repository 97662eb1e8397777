"""``bench/reconcile_bills.py``'s seed and reconciliation, run in a Django process of their own."""

from __future__ import annotations

import datetime
import itertools
import os
import random
import time

GATEWAY = "bench"
DAY = "2026-12-01"
SEEDED = 5  # of each kind of difference
EXPECTED = {
    "missing_ours": 2 * SEEDED,
    "missing_gateway": SEEDED,
    "amount_differs": SEEDED,
    "status_differs": SEEDED,
}


def out_trade_no(i: int) -> str:
    return f"BENCH{i:012d}"


def seed(*, lines: int, bill_path: str) -> dict:
    """``lines`` payments paid on ``DAY`` plus the seeded differences; the day's bill in
    WeChat's format, shuffled, written to ``bill_path``."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from shop.db import rows_insert
    from shop.payments.gateways.bills import fen_to_yuan, format_bill_line
    from shop.payments.gateways.ecommerce_sandbox import TRADE_HEADER, TRADE_SUMMARY
    from shop.payments.models import Payment
    from shop.payments.reconciliation import SHANGHAI

    payer = User.objects.create(username="bench-payer", openid="bench-openid")
    start = datetime.datetime.fromisoformat(DAY).replace(tzinfo=SHANGHAI)
    now = timezone.now()
    rng = random.Random(13)
    # Seeded differences by payment index (the bench's own numbering).
    unpaid = set(range(0, SEEDED))  # unpaid with us, paid on the bill: missing_ours
    absent = set(range(SEEDED, 2 * SEEDED))  # paid with us, not on the bill: missing_gateway
    differs = set(range(2 * SEEDED, 3 * SEEDED))  # the bill says 1 fen less: amount_differs
    closed = set(range(3 * SEEDED, 4 * SEEDED))  # closed with us, paid on the bill: status_differs
    fields = ("created_at", "updated_at", "purpose", "payer", "amount_fen", "gateway", "status")
    fields += ("out_trade_no", "gateway_txn_id", "description", "ref_id", "paid_at", "closed_at", "funds")

    def amount(i: int) -> int:
        return 100 + (i * 7919) % 50_000

    def paid_at(i: int) -> datetime.datetime:
        return start + datetime.timedelta(seconds=60 * 11 + (i * 37) % (86_400 - 60 * 22))

    batch = 50_000
    for lo in range(0, lines, batch):
        rows = []
        for i in range(lo, min(lo + batch, lines)):
            status = "created" if i in unpaid else "closed" if i in closed else "succeeded"
            done = status == "succeeded"
            rows.append(
                (now, now, "bench", payer.pk, amount(i), GATEWAY, status, out_trade_no(i))
                + (f"42{i:020d}" if done else None, "bench", None, paid_at(i) if done else None, None)
                + ("platform",)
            )
        rows_insert(model=Payment, fields=fields, rows=rows)
    with connection.cursor() as cursor:  # statistics, as autovacuum keeps them in production
        cursor.execute("VACUUM ANALYZE payments_payment")
    order = [i for i in range(lines) if i not in absent] + [lines + k for k in range(SEEDED)]  # + strangers
    rng.shuffle(order)
    with open(bill_path, "w", encoding="utf-8") as bill:
        bill.write(TRADE_HEADER + "\n")
        for i in order:
            fen = amount(i) - (1 if i in differs else 0)
            stamp = paid_at(i).strftime("%Y-%m-%d %H:%M:%S")
            row = [stamp, "wxbench", "1900000001", "1600000001", "", f"42{i:020d}", out_trade_no(i), "oid"]
            row += ["JSAPI", "SUCCESS", "OTHERS", "CNY", fen_to_yuan(fen), "0.00", "", "", "0.00", "0.00"]
            row += ["", "", "商品", "", "0.00600", "0.60%", fen_to_yuan(fen), "0.00", ""]
            bill.write(format_bill_line(row) + "\n")
        bill.write(TRADE_SUMMARY + "\n" + format_bill_line([len(order), 0, 0, 0, 0, 0, 0]) + "\n")
    return {
        "payments": Payment.objects.count(),
        "bill_lines": len(order),
        "bill_mb": os.path.getsize(bill_path) / 1e6,
    }


def reconcile(*, bill_path: str) -> dict:
    """``bill_reconcile`` with the bill read from ``bill_path``, twice: lines/s, peak RSS growth,
    cases; the fees booked after each, timed on their own."""
    import resource

    from django.db.models import Count

    from shop.payments import gateway_fees, reconciliation, tasks
    from shop.payments.gateways.bills import parse_bill
    from shop.payments.models import GatewayFee, ReconciliationCase

    class FileBills:
        """The gateway's download, as it arrives: read line by line from the file."""

        def bill_download(self, kind, date, *, sub_mchid=None):
            if date != day:  # the warm-up's day: a bill of a few lines
                return parse_bill(kind, itertools.islice(open(bill_path, encoding="utf-8"), 100))  # noqa: SIM115
            return parse_bill(kind, open(bill_path, encoding="utf-8"), sub_mchid=sub_mchid)  # noqa: SIM115

    reconciliation.bill_source_get = lambda name: FileBills()
    # The fees of a matched bill are booked by a task of their own: timed here on its own.
    queued: list[int] = []
    tasks.bill_fees_book_task.delay = queued.append
    day = datetime.date.fromisoformat(DAY)
    # Warm-up on another day's small bill: the modules and statements this process loads once
    # (tens of MB of code and caches) are not the bill's memory.
    reconciliation.bill_reconcile(gateway=GATEWAY, kind="trade", bill_date=day - datetime.timedelta(days=7))
    ReconciliationCase.objects.filter(bill_date__lt=day).delete()
    figures = {}
    for label in ("first", "again"):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        bill = reconciliation.bill_reconcile(gateway=GATEWAY, kind="trade", bill_date=day)
        seconds = time.perf_counter() - started
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        started = time.perf_counter()
        assert queued.pop() == bill.pk  # matching queued the fees' task
        gateway_fees.bill_fees_book(bill)
        fee_seconds = time.perf_counter() - started
        figures[label + "_fees"] = {
            "seconds": round(fee_seconds, 2),
            "lines_per_s": round(bill.line_count / fee_seconds),
            "fee_rows": GatewayFee.objects.filter(bill_import=bill).count(),
        }
        figures[label] = {
            "status": bill.status,
            "lines": bill.line_count,
            "seconds": round(seconds, 2),
            "lines_per_s": round(bill.line_count / seconds),
            "peak_rss_growth_mb": round(grown / 1024, 1),
            "new_cases": bill.case_count,
        }
    by_kind = dict(ReconciliationCase.objects.values_list("kind").annotate(n=Count("pk")).order_by())
    figures["cases"] = by_kind
    return figures

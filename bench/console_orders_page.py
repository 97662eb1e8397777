"""The console's orders pages at ``seed_demo --scale N``, timed in process (issue 16).

    .venv/bin/python bench/console_orders_page.py --database bench_console_orders --seed --scale 100 --drop

1. ``--seed``: creates the database, migrates it, runs ``seed_demo --scale N`` (N = 100:
   1,000 stores, 100,000 members, 200,000 orders, all of the demo merchant), then moves
   ``--to-ship`` of those orders back to ``paid`` so the shipping list has work in it.
2. In a fresh Django process (``DEBUG=0``), signs the demo merchant's owner in with a test
   ``Client`` and requests each page ``--requests`` times after 5 warm-up requests: the whole
   Django stack (middleware, session, the console's access check, the selector, the
   template), no network. Prints p50/p95/max wall time in ms, the p95 of this process's CPU
   time (less moved by other load on the machine than wall time), the SQL time per request
   and the queries per request. The machine's load average is printed with the result:
   read wall times against it.
3. ``--drop`` drops the database.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402


def measure(requests: int) -> dict:
    """Runs inside Django (``bench.in_django``): time the console pages of the demo merchant."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from merchants.models import MerchantStaff
    from orders.models import Order, OrderItem

    staff = MerchantStaff.objects.select_related("merchant", "user").get(role=MerchantStaff.Role.OWNER)
    merchant = staff.merchant
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff.user)
    some = Order.objects.filter(merchant=merchant).order_by("pk")[1000]
    product_id = OrderItem.objects.filter(order=some).values_list("sku__product_id", flat=True).first()
    today = timezone.localdate()
    pages = {
        "home (the floor: session, access check, base template)": "/console/",
        "orders (first page)": "/console/orders",
        "orders status=paid": "/console/orders?status=paid",
        "orders status=completed page 50": "/console/orders?status=completed&page=50",
        "orders by number": f"/console/orders?order={some.pk}",
        "orders by product": f"/console/orders?product={product_id}",
        "orders last 7 days": f"/console/orders?date_from={today - timedelta(days=7)}",
        "one order": f"/console/orders/{some.pk}",
        "products": "/console/products",
    }
    report: dict = {
        "orders": Order.objects.filter(merchant=merchant).count(),
        "to_ship": Order.objects.filter(merchant=merchant, status=Order.Status.PAID).count(),
        "pages": {},
    }
    for name, path in pages.items():
        for _ in range(5):
            assert client.get(path).status_code == 200, path
        timings, cpu = [], []
        with CaptureQueriesContext(connection) as queries:
            for _ in range(requests):
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.get(path)
                timings.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
                assert response.status_code == 200, path
        report["pages"][name] = {
            "p50_ms": harness.percentile_ms(timings, 0.5),
            "p95_ms": harness.percentile_ms(timings, 0.95),
            "max_ms": harness.percentile_ms(timings, 1.0),
            "python_cpu_p95_ms": harness.percentile_ms(cpu, 0.95),  # this process only, not PostgreSQL
            "sql_ms_per_request": round(
                sum(float(q["time"]) for q in queries.captured_queries) * 1000 / requests, 1
            ),
            "queries": len(queries) // requests,
        }
    for file_format in ("csv", "xlsx"):
        started = time.perf_counter()
        response = client.get(f"/console/orders/shipping-list.{file_format}")
        size = len(b"".join(response.streaming_content) if response.streaming else response.content)
        report[f"shipping_list_{file_format}"] = {
            "seconds": round(time.perf_counter() - started, 2),
            "bytes": size,
        }
    return report


def to_ship(count: int) -> int:
    """Move the ``count`` newest orders back to ``paid`` (the seed makes them all completed)."""
    from orders.models import Order

    ids = list(Order.objects.order_by("-pk").values_list("pk", flat=True)[:count])
    return Order.objects.filter(pk__in=ids).update(status=Order.Status.PAID, shipped_at=None)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--to-ship", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    env = harness.django_env(args.database, var_dir="bench-console-var")
    report: dict = {"database": args.database, "scale": args.scale}
    try:
        if args.seed:
            harness.database_create(args.database)
            seed_env = {**env, "DEBUG": "1"}  # the demo seed runs in a debug (sandbox) setup
            harness.migrate(seed_env)
            started = time.monotonic()
            harness.run([harness.PYTHON, "manage.py", "seed_demo", "--scale", str(args.scale)], env=seed_env)
            report["seed_seconds"] = round(time.monotonic() - started, 1)
            harness.in_django(env, "bench.console_orders_page:to_ship", count=args.to_ship)
        report.update(harness.in_django(env, "bench.console_orders_page:measure", requests=args.requests))
        report["loadavg"] = harness.loadavg()
    finally:
        if args.drop:
            harness.database_drop(args.database)
    harness.emit(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

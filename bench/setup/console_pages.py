"""Console page times, measured in this Django process (``bench/console_pages.py`` runs it).

A Django test ``Client`` signed in as the demo merchant's owner (the full middleware stack,
templates, sessions; no network, no server) asks each page ``warmup`` times unmeasured,
then ``requests`` times timed: wall time (``time.perf_counter``) and this process's CPU
time (``time.process_time``: what the page costs the web process, without the time spent
waiting for PostgreSQL or for a core on a busy machine). The SQL statements of one request
are counted with ``CaptureQueriesContext`` (Django's ``reset_queries`` on request start is
held off meanwhile, or it would empty the log being read).
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.signals import request_started
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.harness.measure import percentile_ms
from merchants.models import MerchantStaff
from orders.models import Order, OrderItem


def to_ship(count: int) -> int:
    """Move the ``count`` newest orders back to ``paid`` (the seed completes them all), so the
    shipping list and the orders to ship have work in them."""
    ids = list(Order.objects.order_by("-pk").values_list("pk", flat=True)[:count])
    return Order.objects.filter(pk__in=ids).update(status=Order.Status.PAID, shipped_at=None)


def filtered_pages(merchant_id: int) -> list[tuple[str, str]]:
    """The orders list as a merchant searches it (by number, product, dates, a deep page)
    and one order: paths naming the demo's own rows."""
    some = Order.objects.filter(merchant_id=merchant_id).order_by("pk")[1000]
    product_id = OrderItem.objects.filter(order=some).values_list("sku__product_id", flat=True).first()
    week_ago = timezone.localdate() - timedelta(days=7)
    return [
        ("orders_completed_page_50", "/console/orders?status=completed&page=50"),
        ("orders_by_number", f"/console/orders?order={some.pk}"),
        ("orders_by_product", f"/console/orders?product={product_id}"),
        ("orders_last_7_days", f"/console/orders?date_from={week_ago}"),
        ("one_order", f"/console/orders/{some.pk}"),
        ("products", "/console/products"),
    ]


def measure(
    *, pages: list[list[str]], requests: int, warmup: int, unionid: str, filters: bool = False
) -> dict:
    staff = MerchantStaff.objects.select_related("user", "merchant").get(user__unionid=unionid)
    client = Client()
    client.force_login(staff.user)
    report: dict = {"merchant": staff.merchant.company_name, "role": staff.role, "pages": {}}
    if filters:
        pages = [*pages, *filtered_pages(staff.merchant_id)]
    for name, path in pages:
        for _ in range(warmup):
            assert client.get(path).status_code == 200, path
        request_started.disconnect(reset_queries)
        try:
            with CaptureQueriesContext(connection) as queries:
                client.get(path)
        finally:
            request_started.connect(reset_queries)
        statements = list(queries.captured_queries)  # read now: the next request empties the log
        times, cpu = [], []
        for _ in range(requests):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            assert response.status_code == 200, path
        report["pages"][name] = {
            "path": path,
            "requests": requests,
            "p50_ms": percentile_ms(times, 0.50),
            "p95_ms": percentile_ms(times, 0.95),
            "p99_ms": percentile_ms(times, 0.99),
            "max_ms": round(max(times) * 1000, 1),
            "cpu_p50_ms": percentile_ms(cpu, 0.50),
            "cpu_p95_ms": percentile_ms(cpu, 0.95),
            "sql_ms": round(sum(float(q["time"]) for q in statements) * 1000, 1),
            "queries": len(statements),
        }
    if filters:
        for file_format in ("csv", "xlsx"):
            started = time.perf_counter()
            response = client.get(f"/console/orders/shipping-list.{file_format}")
            body = b"".join(response.streaming_content) if response.streaming else response.content
            report[f"shipping_list_{file_format}"] = {
                "seconds": round(time.perf_counter() - started, 2),
                "bytes": len(body),
            }
    return report

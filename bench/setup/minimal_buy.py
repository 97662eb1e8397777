"""The minimal buy's rows (``bench/reference_app``), made and checked in a bench's Django process
under ``shop.settings.bench`` (its two tables come from ``migrate --run-syncdb``)."""

from __future__ import annotations

ITEMS = 10_000  # bench/lua/buy.lua picks an item id in 1..10,000


def seed_items(*, count: int = ITEMS) -> dict:
    """``count`` bench items with deep stock (what ``POST /bench/buy`` buys from)."""
    from bench.reference_app.models import BenchItem

    BenchItem.objects.bulk_create([BenchItem(price_fen=1_000 + i, stock=1_000_000) for i in range(count)])
    return {"bench_items": BenchItem.objects.count()}


def check() -> dict:
    """The minimal buys' rows: orders written, items with negative stock (none, ever)."""
    from bench.reference_app.models import BenchItem, BenchOrder

    return {
        "bench_orders": BenchOrder.objects.count(),
        "bench_items_negative": BenchItem.objects.filter(stock__lt=0).count(),
    }

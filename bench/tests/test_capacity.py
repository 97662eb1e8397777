"""The capacity plan's arithmetic (``bench/capacity.py``): per-order figures and what they come
to at ten million orders a day."""

from __future__ import annotations

import pytest

from bench.capacity import COLUMNS, at_scale, flash_peak, months_until, per_order, table, tables_per_month


def _counts(**values) -> dict:
    counts = {key: 0 for key, _ in COLUMNS}
    counts.update(values)
    return counts


STEPS = {
    "place": _counts(statements=20, inserted=10, wal_bytes=8000, db_growth_bytes=4000, tasks={}),
    "pay callback": _counts(
        statements=90,
        inserted=28,
        updated=24,
        wal_bytes=22000,
        wal_fpi_bytes=1000,
        redis_ours=2,
        tasks={"payments": 2},
    ),  # fmt: skip
    "settle": _counts(statements=36, deleted=2, tasks={"notifications": 2, "settlement": 4}),
}


def test_per_order_divides_each_step_and_sums_the_life():
    per = per_order(STEPS, orders=2)
    assert per["place"]["statements"] == 10
    assert per["pay callback"]["tasks"] == {"payments": 1}
    assert per["after placing"]["statements"] == 45 + 18
    assert per["after placing"]["tasks"] == {"payments": 1, "notifications": 1, "settlement": 2}
    life = per["whole life"]
    assert life["statements"] == 10 + 45 + 18  # the after-placing sum is not counted twice
    assert life["inserted"] == 19
    assert life["wal_bytes"] == 15000
    assert life["tasks"]["settlement"] == 2


def test_per_order_refuses_no_orders():
    with pytest.raises(ValueError, match="positive"):
        per_order(STEPS, orders=0)


def test_at_scale_ten_million_a_day_with_a_20x_peak():
    life = per_order(STEPS, orders=2)["whole life"]  # rows 19 + 12 + 1 = 32; WAL 15,000 + 500 FPI
    scale = at_scale(life, orders_per_day=8_640_000, peak=20)  # 100 orders/s: round figures
    assert scale["orders_per_s"] == 100
    assert scale["peak_orders_per_s"] == 2000
    assert scale["rows_written_per_s"] == 3200
    assert scale["rows_written_per_s_peak"] == 64_000
    assert scale["wal_bytes_per_day"] == 15_000 * 8_640_000
    assert scale["wal_bytes_per_s_peak"] == 15_500 * 2000
    assert scale["storage_bytes_per_month"] == 2000 * 8_640_000 * 30
    assert scale["tasks_per_s_peak"] == {"payments": 2000, "notifications": 2000, "settlement": 4000}


def test_months_until_a_size():
    assert months_until(50e9, 200e9) == 4
    assert months_until(0, 200e9) == float("inf")


def test_table_has_a_row_per_step_and_a_column_per_queue():
    text = table(per_order(STEPS, orders=2))
    lines = text.splitlines()
    assert lines[0].split()[0] == "step"
    assert "tasks settlement" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["place", "pay", "settle", "after", "whole"]


def test_tables_per_month_scales_each_table_biggest_first():
    monthly = tables_per_month({"orders_order": 1_000, "ledger_entry": 3_000}, 10, orders_per_day=1_000)
    assert list(monthly) == ["ledger_entry", "orders_order"]
    assert monthly["orders_order"] == 100 * 1_000 * 30


def test_flash_peak_puts_placing_and_paying_at_the_peak_and_the_rest_at_the_average():
    per = per_order(STEPS, orders=2)  # place 10 statements, pay callback 45, settle 18
    load = flash_peak(per, orders_per_day=8_640_000, peak=20)  # 100 orders/s, peak 2,000/s
    assert load["statements_per_s"] == (10 + 45) * 2000 + 18 * 100
    assert load["wal_bytes_per_s"] == (4000 + 11000) * 2000
    assert load["wal_bytes_per_s_with_fpi"] == (4000 + 11500) * 2000
    assert load["tasks_per_s"] == {"notifications": 100, "payments": 2000, "settlement": 200}

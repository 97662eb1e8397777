"""``bench/sale_day.py``'s figures beside the minimal buy, without running a day."""

from __future__ import annotations

from bench import sale_day


def _report(*, buy_statuses=(0, 0), negative=0) -> dict:
    def buy(rps, p99, non_2xx):
        return {"rps": rps, "p99_ms": p99, "requests": 1000, "non_2xx": non_2xx, "socket_errors": 0,
                "cpu_ms_per_request": {"server": 3.0}, "load": [1.0, 1.0, 1.0]}  # fmt: skip

    return {
        "buy_before": buy(900.0, 40.0, buy_statuses[0]),
        "buy_after": buy(700.0, 50.0, buy_statuses[1]),
        "day": {"rps": 240.0, "p50_ms": 60.0, "p99_ms": 210.0, "cpu_ms_per_request": {"server": 9.0}},
        "load_1min_samples": [1.5, 2.0],
        "minimal_buy_rows": {"bench_orders": 32_000, "bench_items_negative": negative},
    }


def test_the_day_is_a_ratio_to_the_mean_of_the_buys_around_it_with_both_p99s():
    beside = sale_day.beside_the_buy(_report())
    assert beside["ratio_to_minimal_buy"] == 0.3  # 240 / mean(900, 700)
    assert (beside["day_p50_ms"], beside["day_p99_ms"], beside["buy_p99_ms"]) == (60.0, 210.0, [40.0, 50.0])
    assert beside["load"]["day_1min_samples"] == [1.5, 2.0]


def test_a_minimal_buy_that_failed_or_oversold_fails_the_run():
    assert sale_day.minimal_buy_held(_report()) is True
    assert sale_day.minimal_buy_held(_report(buy_statuses=(0, 3))) is False
    assert sale_day.minimal_buy_held(_report(negative=1)) is False

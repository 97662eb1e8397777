"""The arithmetic of the capacity plan (docs/capacity.md), from ``bench/order_costs.py``'s counts:
per-order figures of each step and of an order's whole life, and what they come to at a daily
volume with a flash peak. Pure functions: ``bench/tests/test_capacity.py``."""

from __future__ import annotations

DAY_S = 86_400
MONTH_DAYS = 30

# The figures of a step's table, in order: (key in a step's counts, column title).
COLUMNS = (
    ("statements", "SQL"),
    ("inserted", "rows ins"),
    ("updated", "rows upd"),
    ("hot_updated", "HOT"),
    ("deleted", "rows del"),
    ("btree_inserts", "idx entries (WAL)"),
    ("index_rows_x_indexes", "rows×idx"),
    ("wal_bytes", "WAL B"),
    ("wal_fpi_bytes", "+FPI B"),
    ("db_growth_bytes", "DB growth B"),
    ("redis_ours", "Redis"),
    ("redis_sandbox", "Redis sandbox"),
)


def per_order(steps: dict[str, dict], orders: int) -> dict[str, dict]:
    """Each step's counts divided by the orders, plus ``whole life`` (their sum) and
    ``after placing`` (the sum without ``place``). Tasks per queue too."""
    if orders <= 0:
        raise ValueError("orders must be positive")
    out: dict[str, dict] = {}
    for name, counts in steps.items():
        row = {key: counts.get(key, 0) / orders for key, _ in COLUMNS}
        row["tasks"] = {queue: n / orders for queue, n in counts.get("tasks", {}).items()}
        out[name] = row
    out["after placing"] = _sum([row for name, row in out.items() if name != "place"])
    out["whole life"] = _sum([row for name, row in out.items() if name != "after placing"])
    return out


def _sum(rows: list[dict]) -> dict:
    total = {key: sum(r[key] for r in rows) for key, _ in COLUMNS}
    tasks: dict[str, float] = {}
    for row in rows:
        for queue, n in row["tasks"].items():
            tasks[queue] = tasks.get(queue, 0) + n
    total["tasks"] = tasks
    return total


def at_scale(life: dict, *, orders_per_day: int, peak: float) -> dict:
    """What one order's whole-life counts come to at ``orders_per_day`` (evenly spread) and at
    ``peak`` × that rate. Peak figures assume every step of an order runs at the peak rate
    (an upper bound: settlement and sharing run days later, off the peak)."""
    rate = orders_per_day / DAY_S
    peak_rate = rate * peak
    rows = life["inserted"] + life["updated"] + life["deleted"]
    wal = life["wal_bytes"] + life["wal_fpi_bytes"]
    return {
        "orders_per_s": rate,
        "peak_orders_per_s": peak_rate,
        "statements_per_s_peak": life["statements"] * peak_rate,
        "rows_written_per_s": rows * rate,
        "rows_written_per_s_peak": rows * peak_rate,
        "wal_bytes_per_day": life["wal_bytes"] * orders_per_day,
        "wal_bytes_per_day_with_fpi": wal * orders_per_day,
        "wal_bytes_per_s_peak": wal * peak_rate,
        "storage_bytes_per_month": life["db_growth_bytes"] * orders_per_day * MONTH_DAYS,
        "redis_per_s_peak": life["redis_ours"] * peak_rate,
        "tasks_per_s": {q: n * rate for q, n in life["tasks"].items()},
        "tasks_per_s_peak": {q: n * peak_rate for q, n in life["tasks"].items()},
    }


PEAK_STEPS = ("place", "pay callback", "pay tasks")  # what a flash sale's buyers do within minutes


def flash_peak(per: dict[str, dict], *, orders_per_day: int, peak: float, steps=PEAK_STEPS) -> dict:
    """The write load during a flash peak: the ``steps`` of the peak's orders at ``peak`` ×
    the average rate, plus the rest of the life (shipping to sharing, days later) of the
    average day's orders at the average rate."""
    rate = orders_per_day / DAY_S
    at_peak = _sum([per[name] for name in steps if name in per])
    later = _sum([row for name, row in per.items() if name not in (*steps, "after placing", "whole life")])

    def load(key: str) -> float:
        return at_peak[key] * rate * peak + later[key] * rate

    queues = set(at_peak["tasks"]) | set(later["tasks"])
    return {
        "statements_per_s": load("statements"),
        "rows_written_per_s": load("inserted") + load("updated") + load("deleted"),
        "wal_bytes_per_s": load("wal_bytes"),
        "wal_bytes_per_s_with_fpi": load("wal_bytes") + load("wal_fpi_bytes"),
        "redis_per_s": load("redis_ours"),
        "tasks_per_s": {
            q: at_peak["tasks"].get(q, 0) * rate * peak + later["tasks"].get(q, 0) * rate
            for q in sorted(queues)
        },
    }


def tables_per_month(table_bytes: dict[str, int], orders: int, *, orders_per_day: int) -> dict[str, float]:
    """Each table's growth over ``orders`` orders, scaled to a month at ``orders_per_day``
    (bytes a month, biggest first)."""
    monthly = {name: size / orders * orders_per_day * MONTH_DAYS for name, size in table_bytes.items()}
    return dict(sorted(monthly.items(), key=lambda kv: -kv[1]))


def months_until(table_bytes_per_month: float, limit_bytes: float) -> float:
    """Months until a table growing by ``table_bytes_per_month`` reaches ``limit_bytes``."""
    if table_bytes_per_month <= 0:
        return float("inf")
    return limit_bytes / table_bytes_per_month


def table(per: dict[str, dict]) -> str:
    """The per-order figures as a text table (one row a step, then the sums)."""
    queues = sorted({q for row in per.values() for q in row["tasks"]})
    head = ["step", *(title for _, title in COLUMNS), *(f"tasks {q}" for q in queues)]
    lines = [head]
    for name, row in per.items():
        cells = [name, *(_fmt(row[key]) for key, _ in COLUMNS)]
        cells += [_fmt(row["tasks"].get(q, 0)) for q in queues]
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines)


def _fmt(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"

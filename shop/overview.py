"""The ops overview on the admin index (docs/operations.md "The ops overview").

Each app that owns a part of the business registers one *panel* here in
``AppConfig.ready()`` (the same registry mechanism as the sweepers): a function of ``now``
returning a :class:`Panel` — a few headline figures, one chart and, where useful, a short
table. The panel's numbers come from that app's selectors (``<app>/overview.py``), which
aggregate in SQL and stay cheap at 2 M orders (bench/ops_overview.py measures them).

``overview_panels`` builds every panel, caches the result for ``CACHE_SECONDS`` (several
ops on the admin index within a minute cost one set of queries), and renders each chart to
server-rendered SVG (``shop.charts``): no JavaScript, no CDN.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from shop.money import fen_display
from shop.registry import Registry

logger = logging.getLogger("shop.overview")

CACHE_KEY = "ops-overview:v1"
CACHE_SECONDS = 60
DAYS = 30  # the per-day charts show the last 30 days, today included


@dataclass(frozen=True)
class Figure:
    """One headline number. ``fen`` says it is money (shown as yuan); ``alert`` paints it
    red (something is due and not done, or money is short)."""

    label: str
    value: int
    fen: bool = False
    alert: bool = False

    @property
    def display(self) -> str:
        return fen_display(self.value) if self.fen else f"{self.value:,}"


@dataclass(frozen=True)
class Series:
    label: str
    values: list[int]
    fen: bool = False


@dataclass(frozen=True)
class Chart:
    """Bars for each label, one bar per series (grouped, one scale: put money and counts in
    separate charts); ``title`` is shown above the chart and read out by screen readers."""

    title: str
    labels: list[str]
    series: list[Series]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    figures: list[Figure]
    charts: list[Chart] = field(default_factory=list)
    note: str = ""
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    link: str = ""  # an admin change list to act from


PanelBuilder = Callable[[datetime], Panel]


@dataclass(frozen=True)
class PanelEntry:
    name: str
    build: PanelBuilder
    order: int


PANELS: Registry[PanelEntry] = Registry("ops overview panel")


def register(*, name: str, build: PanelBuilder, order: int = 100) -> None:
    """Register a panel; ``order`` sorts them on the page (sales first, reconciliation last)."""
    PANELS.register(name, PanelEntry(name=name, build=build, order=order))


def local_days(now: datetime, days: int = DAYS) -> tuple[list[date], datetime]:
    """The last ``days`` local calendar days ending today (oldest first) and the aware
    instant the first one starts: per-day charts are in the shop's time zone (Asia/Shanghai)."""
    today = timezone.localtime(now).date()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    return [first + timedelta(days=i) for i in range(days)], start


def day_labels(days: list[date]) -> list[str]:
    return [d.strftime("%m-%d") for d in days]


def fill_days(days: list[date], values_by_day: dict[date, int]) -> list[int]:
    """One value per day, 0 where nothing happened that day."""
    return [int(values_by_day.get(d, 0)) for d in days]


def overview_build(now: datetime) -> list[Panel]:
    """Every registered panel as of ``now``, uncached. A panel that fails is left out and
    logged (the admin index must open even while one app's data is broken)."""
    panels: list[Panel] = []
    for entry in sorted(PANELS.values(), key=lambda e: (e.order, e.name)):
        try:
            panels.append(entry.build(now))
        except Exception:
            logger.exception("ops overview panel %s failed", entry.name)
            panels.append(
                Panel(key=entry.name, title=entry.name, figures=[], note="This panel failed to load.")
            )
    return panels


def overview_panels(*, now: datetime | None = None, fresh: bool = False) -> tuple[list[Panel], datetime]:
    """The panels and when they were computed: from the cache when younger than
    ``CACHE_SECONDS`` unless ``fresh``."""
    if not fresh:
        cached = cache.get(CACHE_KEY)
        if cached is not None:
            return cached
    now = now or timezone.now()
    result = (overview_build(now), now)
    cache.set(CACHE_KEY, result, CACHE_SECONDS)
    return result

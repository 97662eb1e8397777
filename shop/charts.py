"""Server-rendered SVG bar charts for the ops overview (``shop.overview``).

``bar_chart_svg`` turns a :class:`shop.overview.Chart` into one inline ``<svg>``: grouped
bars, a y axis with three gridlines, x labels thinned to stay readable, a legend when
there is more than one series, and a ``<title>`` on every bar (the exact value on hover).
No JavaScript and nothing fetched: the admin index works offline and behind any CSP.
Every piece of text goes through ``escape``; the numbers are ints we format ourselves.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .money import fen_display
from .overview import Chart

WIDTH, HEIGHT = 600, 210
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 22, 34  # plot margins: y labels left, x labels below, legend on top
COLOURS = ("#417690", "#e08e0b", "#ba2121", "#5b9b57")  # admin blue first, then distinct hues
MAX_X_LABELS = 10
MAX_BAR_W = 36  # a chart of 2 categories keeps slim bars


def compact(value: int, *, fen: bool) -> str:
    """Short axis text: ``¥1,234`` / ``¥2.50`` / ``¥12.3万`` for money (fen in), ``980`` /
    ``1.2万`` for counts."""
    number = abs(value) / 100 if fen else abs(value)
    sign = "-" if value < 0 else ""
    if number >= 10_000:
        text = f"{number / 10_000:.1f}万"
    else:
        text = f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"
    return f"{sign}{'¥' if fen else ''}{text}"


def exact(value: int, *, fen: bool) -> str:
    return fen_display(value) if fen else f"{value:,}"


def _nice_max(value: int) -> int:
    """The axis top: the smallest 2, 4, 6, 8 or 10 × 10ⁿ at or above ``value`` (at least 2),
    so the middle gridline is a whole number too."""
    step = 1
    while True:
        for factor in (2, 4, 6, 8, 10):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart_svg(chart: Chart) -> SafeString:
    """The chart as an inline SVG string, safe to put in a template as is."""
    labels = chart.labels
    series = chart.series
    fen = any(s.fen for s in series)
    # An empty money chart still reads in yuan (¥0 … ¥2), not in fen (¥0.02).
    top = _nice_max(max([100 if fen else 0, *(v for s in series for v in s.values)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base_y = TOP + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ops-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="11">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for i in range(3):  # gridlines at 0, half and top
        value = top * i // 2
        y = base_y - plot_h * i / 2
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
            f"{escape(compact(value, fen=fen))}</text>"
        )
    if labels:
        group_w = plot_w / len(labels)
        bar_w = min(MAX_BAR_W, max(1.0, group_w * 0.8 / max(1, len(series))))
        pad = (group_w - bar_w * len(series)) / 2  # the group's bars centred under its label
        every = max(1, -(-len(labels) // MAX_X_LABELS))  # ceil: at most MAX_X_LABELS shown
        for li, label in enumerate(labels):
            x0 = LEFT + li * group_w + pad
            for si, one in enumerate(series):
                value = one.values[li] if li < len(one.values) else 0
                h = plot_h * max(value, 0) / top
                x = x0 + si * bar_w
                parts.append(
                    f'<rect x="{x:.1f}" y="{base_y - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'fill="{COLOURS[si % len(COLOURS)]}"><title>{escape(label)} · {escape(one.label)}: '
                    f"{escape(exact(value, fen=one.fen))}</title></rect>"
                )
            if li % every == 0 or li == len(labels) - 1 and len(labels) <= MAX_X_LABELS:
                cx = LEFT + li * group_w + group_w / 2
                parts.append(
                    f'<text x="{cx:.1f}" y="{base_y + 14}" text-anchor="middle" fill="#555">'
                    f"{escape(label)}</text>"
                )
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">No data</text>')
    parts.append(f'<line x1="{LEFT}" y1="{base_y}" x2="{WIDTH - RIGHT}" y2="{base_y}" stroke="#888"/>')
    if len(series) > 1:
        x = LEFT
        for si, one in enumerate(series):
            parts.append(
                f'<rect x="{x}" y="6" width="10" height="10" fill="{COLOURS[si % len(COLOURS)]}"/>'
                f'<text x="{x + 14}" y="15" fill="#333">{escape(one.label)}</text>'
            )
            x += 24 + 7 * len(one.label)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped; numbers are ours

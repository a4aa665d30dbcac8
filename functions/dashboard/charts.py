"""Charts drawn on the server as SVG: no script, no CDN, nothing for the CSP to allow.

Each chart carries a <title> and <desc> for screen readers; the page puts the same numbers in
a table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

HUMAN = "#1a7f37"
MACHINE = "#bf8700"
CLICK = "#0969da"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _svg(chart_id: str, title: str, desc: str, width: int, height: int, body: str) -> Markup:
    return Markup(
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>{body}</svg>'
    )


def _nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value``."""
    for power in range(10):
        for step in (1, 2, 5):
            if step * 10**power >= value:
                return max(step * 10**power, 1)
    return max(value, 1)


def activity_by_day(by_day: Sequence[dict[str, Any]], *, narrow: bool = False) -> Markup:
    """Human opens, clicks and machine hits per day, as grouped bars. ``narrow``: the phone's
    version, the last 14 days drawn at the phone's width, so its labels stay readable."""
    if narrow:
        by_day = by_day[-14:]
    width, height, left, bottom, top = (360, 200, 30, 24, 10) if narrow else (720, 220, 40, 24, 10)
    font = 11 if narrow else 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = _nice_max(
        max((max(d["human_opens"], d["machine_hits"], d["clicks"]) for d in by_day), default=0)
    )
    n = max(len(by_day), 1)
    slot = plot_w / n
    bar = max(slot / 4, 0.5)
    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#8c959f"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="{font}">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="{font}">0</text>',
    ]
    every = 3 if narrow else max(n // 10, 1) if n > 14 else 1
    for i, day in enumerate(by_day):
        x = left + i * slot + slot / 8
        for j, (key, colour) in enumerate(
            (("human_opens", HUMAN), ("clicks", CLICK), ("machine_hits", MACHINE))
        ):
            h = plot_h * day[key] / peak
            if h:
                parts.append(
                    f'<rect x="{x + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{escape(day["date"])}: '
                    f"{day[key]} {LEGEND[key]}</title></rect>"
                )
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x + 1.5 * bar:.1f}" y="{height - 8}" text-anchor="middle" '
                f'font-size="{font - 1}">{escape(_day_label(day["date"]))}</text>'
            )
    total = sum(d["human_opens"] for d in by_day), sum(d["machine_hits"] for d in by_day)
    return _svg(
        "chart-by-day-narrow" if narrow else "chart-by-day",
        "Opens by people, clicks and machine hits per day",
        f"{len(by_day)} days: {total[0]} opens by people, {total[1]} machine hits",
        width,
        height,
        "".join(parts),
    )


LEGEND = {"human_opens": "opens by people", "clicks": "clicks", "machine_hits": "machine hits"}


def _day_label(iso_day: str) -> str:
    """ "Mar 2" for "2026-03-02"."""
    from datetime import date

    day = date.fromisoformat(iso_day)
    return f"{day:%b} {day.day}"


def hour_of_week(grid: Sequence[Sequence[int]], tz: str = "UTC") -> Markup:
    """When emails get opened: a 7 x 24 heatmap of human opens, in the page's zone."""
    cell, left, top = 26, 36, 16
    peak = max((max(row) for row in grid), default=0) or 1
    parts = []
    for hour in range(0, 24, 3):
        parts.append(
            f'<text x="{left + hour * cell + cell / 2}" y="{top - 4}" text-anchor="middle" '
            f'font-size="9">{hour:02d}</text>'
        )
    for d, row in enumerate(grid):
        y = top + d * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell * 0.65}" text-anchor="end" '
            f'font-size="10">{DAYS[d]}</text>'
        )
        for hour, n in enumerate(row):
            parts.append(_cell(left + hour * cell, y, cell, n, peak, f"{DAYS[d]} {hour:02d}:00"))
    return _svg(
        "chart-hours",
        f"Opens by people, by day of week and hour ({tz})",
        f"busiest hour: {peak if any(any(r) for r in grid) else 0} opens",
        left + 24 * cell + 4,
        top + 7 * cell + 4,
        "".join(parts),
    )


def hour_of_week_narrow(grid: Sequence[Sequence[int]], tz: str = "UTC") -> Markup:
    """The heatmap for a phone: hours down, days across, so it fits the width."""
    cell, left, top = 34, 40, 22
    peak = max((max(row) for row in grid), default=0) or 1
    parts = [
        f'<text x="{left + d * cell + cell / 2}" y="{top - 6}" text-anchor="middle" '
        f'font-size="12">{DAYS[d]}</text>'
        for d in range(7)
    ]
    for hour in range(24):
        y = top + hour * (cell * 0.6)
        if hour % 3 == 0:
            parts.append(
                f'<text x="{left - 6}" y="{y + cell * 0.45}" text-anchor="end" '
                f'font-size="12">{hour:02d}</text>'
            )
        for d in range(7):
            n = grid[d][hour]
            parts.append(_cell(left + d * cell, y, cell, n, peak, f"{DAYS[d]} {hour:02d}:00", 0.6))
    return _svg(
        "chart-hours-narrow",
        f"Opens by people, by day of week and hour ({tz})",
        f"busiest hour: {peak if any(any(r) for r in grid) else 0} opens",
        left + 7 * cell + 4,
        int(top + 24 * cell * 0.6 + 4),
        "".join(parts),
    )


def _cell(x: float, y: float, cell: int, n: int, peak: int, when: str, tall: float = 1.0) -> str:
    shade = 0.08 + 0.92 * n / peak if n else 0.0
    return (
        f'<rect x="{x}" y="{y:.1f}" width="{cell - 2}" height="{cell * tall - 2:.1f}" rx="3" '
        f'fill="{HUMAN}" fill-opacity="{shade:.2f}" stroke="#d0d7de" stroke-width="0.5">'
        f"<title>{when}: {n} opens</title></rect>"
    )


def horizontal_bars(chart_id: str, title: str, items: dict[str, int], colour: str) -> Markup:
    """A short ranking (clients, machine verdicts) as horizontal bars."""
    rows = list(items.items())[:8]
    width, row_h, label = 420, 22, 110
    peak = max((n for _, n in rows), default=0) or 1
    parts = []
    for i, (name, n) in enumerate(rows):
        y = i * row_h
        w = (width - label - 50) * n / peak
        parts.append(
            f'<text x="{label - 6}" y="{y + 15}" text-anchor="end" '
            f'font-size="11">{escape(name)}</text>'
            f'<rect x="{label}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label + w + 4:.1f}" y="{y + 15}" font-size="11">{n}</text>'
        )
    if not rows:
        parts.append('<text x="10" y="15" font-size="11">nothing yet</text>')
    return _svg(
        chart_id,
        title,
        ", ".join(f"{k}: {v}" for k, v in rows) or "nothing yet",
        width,
        max(len(rows), 1) * row_h + 4,
        "".join(parts),
    )

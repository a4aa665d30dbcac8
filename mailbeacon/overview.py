"""The overview: a period's engagement, in the user's own days and hours, from the daily
counters the stores keep (``daycounts``), never by counting events.

Counters are kept per UTC day, and every series the overview draws per day also per UTC hour
(``name@H``; human opens as ``hour:H``), so the days, the chart and the hour-of-week heatmap
of any time zone are sums of whole hours. Counters kept before hours were (older data) count
at noon UTC of their day. The breakdowns (clients, verdicts, times to first open and reply)
are kept per UTC day: a day the period covers only in part counts them when the period holds
most of that day's hourly series they break down (clients: its human opens; verdicts: its
machine hits; times to first open or reply: its emails opened or replied), so today's opens
bring their clients at 00:10 UTC, and "today" in a zone behind UTC brings today's. A day
without those hourly counts (kept before hours were) counts them when the middle of its part
that has passed is in the period: noon for a past day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import repeat
from operator import add
from typing import Any

from .clock import iso, time_from_input
from .daycounts import HOURLY, ttfo_seconds
from .errors import FieldError
from .localtime import zone
from .model import Verdict

MAX_OVERVIEW_DAYS = 400
DEFAULT_OVERVIEW_DAYS = 30
SERIES = ("human_opens", *HOURLY)
"""What is summed hour by hour: human opens (``hour:H``) and the HOURLY series."""

DayCountsReader = Callable[[str, str], dict[str, dict[str, int]]]


def period(args: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` from the parameters (default: the last 30 days up to now)."""
    until = _instant("until", args.get("until")) or now
    since = _instant("since", args.get("since")) or until - timedelta(days=DEFAULT_OVERVIEW_DAYS)
    if since >= until:
        raise FieldError("since", "must be before the end of the period")
    if (until - since).days > MAX_OVERVIEW_DAYS:
        raise FieldError("until", f"a period of at most {MAX_OVERVIEW_DAYS} days")
    return since, until


def _instant(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return time_from_input(value)
    except ValueError as exc:
        raise FieldError(name, f"must be an ISO 8601 time from 1970 to 9000: {exc}") from exc


Shape = tuple[tuple[int, int], ...]
"""For each UTC hour of a day: (days after the local date of its first hour, local hour)."""


@lru_cache(maxsize=64)
def _steady(first_hour: int) -> Shape:
    """A day with one offset all day: the shape depends only on the local hour it starts at."""
    return tuple(divmod(first_hour + h, 24) for h in range(24))


@lru_cache(maxsize=256)
def _elsewhere(shape: Shape, series: str) -> tuple[str, ...]:
    """The hourly counters of ``series`` whose local date is not that of the day's noon (one
    date: a day spans at most two)."""
    return tuple(HOURLY_NAMES[series][h] for h in range(24) if shape[h][0] != shape[12][0])


class _Clock:
    """UTC day -> its local dates and hours in one zone: two astimezone calls a day, the hours
    between by arithmetic unless the zone changed its offset that day."""

    def __init__(self, tz: str) -> None:
        self.zone = zone(tz)

    def day(self, start: datetime) -> tuple[tuple[date, date], int, Shape]:
        """The local date of the day's first hour and the one after, its weekday, its shape."""
        first = start.astimezone(self.zone)
        last = (start + timedelta(hours=23)).astimezone(self.zone)
        base = first.date()
        dates = (base, base + timedelta(days=1))
        if first.utcoffset() == last.utcoffset():
            return dates, first.weekday(), _steady(first.hour)
        shape = []  # the zone changed its offset that day
        for h in range(24):
            local = (start + timedelta(hours=h)).astimezone(self.zone)
            shape.append(((local.date() - base).days, local.hour))
        return dates, first.weekday(), tuple(shape)


@lru_cache(maxsize=4096)
def _hourly(name: str) -> tuple[str, int] | None:
    """(series, UTC hour) of an hourly counter, None for a day's total or a breakdown. The
    names repeat day after day, so each is parsed once."""
    if name.startswith("hour:"):
        return "human_opens", int(name[5:])
    series, at, hour = name.partition("@")
    return (series, int(hour)) if at else None


HOUR = timedelta(hours=1)


BREAKDOWN_OF = {
    "client:": "human_opens",
    "verdict:": "machine_hits",
    "ttfo:": "opened",
    "ttfr:": "replied",
}
"""Each breakdown's prefix and the hourly series it breaks down."""


def _breakdown_series(name: str) -> str | None:
    prefix = name[: name.find(":") + 1]
    return BREAKDOWN_OF.get(prefix) if prefix else None


def _middle_hour(start: datetime, now: datetime) -> int:
    """The UTC hour in the middle of the part of the day beginning at ``start`` that has
    passed by ``now``: noon for a past day, for today half the hours so far."""
    if now >= start + 24 * HOUR:
        return 12
    return max(0, (now - start) // HOUR) // 2


def _in_period(start: datetime, since: datetime, until: datetime) -> range:
    """The UTC hours of the day beginning at ``start`` whose instant is in ``[since, until)``."""
    lo = 0 if since <= start else min(24, -((start - since) // HOUR))
    hi = 24 if until >= start + 24 * HOUR else max(0, -((start - until) // HOUR))
    return range(lo, max(lo, hi))


DRAWN = ("human_opens", "machine_hits", "clicks")
"""The series the overview draws per local day."""
HOURLY_NAMES = {
    series: tuple(f"hour:{h}" if series == "human_opens" else f"{series}@{h}" for h in range(24))
    for series in SERIES
}
ALL_HOURLY = frozenset(name for names in HOURLY_NAMES.values() for name in names)
OPENS = HOURLY_NAMES["human_opens"]
Days = dict[date, dict[str, int]]


def _counted(
    days: Mapping[str, Mapping[str, int]],
    since: datetime,
    until: datetime,
    tz: str,
    now: datetime,
) -> tuple[dict[str, int], Days, list[list[int]]]:
    """Totals, per local day the DRAWN series, and the local hour-of-week grid for
    ``[since, until)``.

    A year holds about 90,000 counters (some 250 a busy day), most of them hourly. A day
    wholly inside the period adds only its other counters to the totals (a day's total of a
    series is the sum of its hours and of what came before hours were kept), its human opens
    by UTC hour to its weekday's and shape's row, and moves the drawn series' hours that fall
    on another local date than its noon: all in loops that run inside the interpreter's C
    code (map, zip, update). Only the first and last days are summed hour by hour."""
    clock = _Clock(tz)
    total: dict[str, int] = {}
    by_day: Days = {}
    grid = [[0] * 24 for _ in range(7)]
    rows: dict[tuple[int, Shape], list[int]] = {}
    for key, counts in days.items():
        start = datetime.fromisoformat(key).replace(tzinfo=UTC)
        local = clock.day(start)
        inside = _in_period(start, since, until)
        if len(inside) != 24:
            _part_day(counts, local, inside, _middle_hour(start, now), total, by_day, grid)
            continue
        dates, weekday, shape = local
        names = counts.keys() - ALL_HOURLY  # iterated three times in one order
        sums = map(add, map(total.get, names, repeat(0)), map(counts.get, names))
        total.update(zip(names, sums, strict=True))
        row = rows.get((weekday, shape)) or [0] * 24
        rows[(weekday, shape)] = list(map(add, row, map(counts.get, OPENS, repeat(0))))
        noon, other = dates[shape[12][0]], dates[1 - shape[12][0]]
        for series in DRAWN:
            moved = sum(map(counts.get, _elsewhere(shape, series), repeat(0)))
            if moved:
                _add(by_day, other, series, moved)
            rest = counts.get(series, 0) - moved
            if rest:
                _add(by_day, noon, series, rest)
    for (weekday, shape), row in rows.items():
        for n, (shift, hour) in zip(row, shape, strict=True):
            grid[(weekday + shift) % 7][hour] += n
    return total, by_day, grid


def _add(by_day: Days, local: date, series: str, n: int) -> None:
    sums = by_day.get(local)
    if sums is None:
        sums = by_day[local] = {}
    sums[series] = sums.get(series, 0) + n


def _part_day(
    counts: Mapping[str, int],
    local: tuple[tuple[date, date], int, Shape],
    inside: range,
    middle: int,
    total: dict[str, int],
    by_day: Days,
    grid: list[list[int]],
) -> None:
    """A UTC day the period starts or ends in, hour by hour. Its breakdowns count when the
    period holds most of the hourly series each breaks down (``BREAKDOWN_OF``); without
    hourly counts, when the ``middle`` hour of its part that has passed is in the period, as
    do the counts kept before hours were (placed at noon UTC: only past days have them)."""
    dates, weekday, shape = local
    noon_in = middle in inside
    hourly: dict[str, int] = {}
    held: dict[str, int] = {}
    breakdowns: list[tuple[str, int]] = []
    for name, n in counts.items():
        parsed = _hourly(name)
        if parsed is None:
            if name not in SERIES:
                breakdowns.append((name, n))
            continue
        series, hour = parsed
        hourly[series] = hourly.get(series, 0) + n
        if hour in inside:
            held[series] = held.get(series, 0) + n
            shift, local_hour = shape[hour]
            total[series] = total.get(series, 0) + n
            _add(by_day, dates[shift], series, n)
            if series == "human_opens":
                grid[(weekday + shift) % 7][local_hour] += n
    for name, n in breakdowns:
        series = _breakdown_series(name)
        of, inside_of = (hourly.get(series, 0), held.get(series, 0)) if series else (0, 0)
        decided = of and 2 * inside_of != of  # else nothing hourly to go by, or a tie
        if (2 * inside_of > of) if decided else noon_in:
            total[name] = total.get(name, 0) + n
    if noon_in:  # counted before hours were kept: at noon UTC
        for series in SERIES:
            rest = counts.get(series, 0) - hourly.get(series, 0)
            if rest:
                total[series] = total.get(series, 0) + rest
                _add(by_day, dates[shape[12][0]], series, rest)


def summarise(
    read: DayCountsReader, args: Mapping[str, str], now: datetime, tz: str = "UTC"
) -> dict[str, Any]:
    """Engagement over a period in zone ``tz``, from the daily counters ``read`` returns."""
    since, until = period(args, now)
    first = since.astimezone(zone(tz)).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone(tz)).date()
    utc_first = since.astimezone(UTC).date()
    utc_last = until.astimezone(UTC).date()
    total, by_day, grid = _counted(
        read(utc_first.isoformat(), utc_last.isoformat()), since, until, tz, now
    )
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        counts = by_day.get(day, {})
        days.append(
            {
                "date": day.isoformat(),
                "human_opens": counts.get("human_opens", 0),
                "machine_hits": counts.get("machine_hits", 0),
                "clicks": counts.get("clicks", 0),
            }
        )
    messages, opened = total.get("messages", 0), total.get("opened", 0)
    return {
        "since": iso(since),
        "until": iso(until),
        "timezone": tz,
        "messages": messages,
        "opened": opened,
        "open_rate": round(opened / messages, 4) if messages else 0.0,
        "clicked": total.get("clicked", 0),
        "human_opens": total.get("human_opens", 0),
        "clicks": total.get("clicks", 0),
        "machine_hits": {
            "total": total.get("machine_hits", 0),
            "by_verdict": {
                v.value: total.get(f"verdict:{v.value}", 0)
                for v in Verdict
                if v is not Verdict.HUMAN
            },
        },
        "by_day": days,
        "time_to_first_open_s": _percentiles(total),
        **_reply_overview(total, messages),
        "opens_by_hour_of_week": grid,
        "clients": dict(
            sorted(
                ((k[7:], n) for k, n in total.items() if k.startswith("client:") and n),
                key=lambda kv: (-kv[1], kv[0]),
            )
        ),
    }


OwnerDays = Callable[[str, str, str], dict[str, dict[str, int]]]
"""``ReportingStore.day_counts(owner, first, last)``."""


def reader(read: OwnerDays, senders: Sequence[str]) -> DayCountsReader:
    """The counters of ``senders`` (one user, or everyone in a domain) summed day by day."""

    def days(first: str, last: str) -> dict[str, dict[str, int]]:
        if len(senders) == 1:
            return read(senders[0].lower(), first, last)
        merged: dict[str, dict[str, int]] = {}
        for sender in senders:
            for day, counts in read(sender.lower(), first, last).items():
                into = merged.setdefault(day, {})
                for name, n in counts.items():
                    into[name] = into.get(name, 0) + n
        return merged

    return days


def _reply_overview(total: Mapping[str, int], messages: int) -> dict[str, Any]:
    """Replies over the period: emails answered by a person (on their tracking day, as
    ``opened`` is), the reply rate, time to the first reply, and machine answers apart."""
    replied = total.get("replied", 0)
    return {
        "replied": replied,
        "reply_rate": round(replied / messages, 4) if messages else 0.0,
        "replies": total.get("replies", 0),
        "machine_replies": total.get("machine_replies", 0),
        "time_to_first_reply_s": _percentiles(total, "ttfr:"),
    }


def _percentiles(total: Mapping[str, int], prefix: str = "ttfo:") -> dict[str, float | None]:
    """p50 and p90 of time to first open (or reply), from log-spaced buckets (within ~10%)."""
    buckets = sorted(
        (int(k[len(prefix) :]), n) for k, n in total.items() if k.startswith(prefix) and n > 0
    )
    count = sum(n for _, n in buckets)
    result: dict[str, float | None] = {"p50": None, "p90": None}
    for name, share in (("p50", 0.5), ("p90", 0.9)):
        if not count:
            continue
        seen = 0
        for bucket, n in buckets:
            seen += n
            if seen >= share * count:
                result[name] = round(ttfo_seconds(bucket), 1)
                break
    return result

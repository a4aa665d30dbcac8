"""The overview's local days and hours (mailbeacon/overview.py) summed from UTC hourly
counters agree with placing every counted hour at its own instant in the zone, including on
the days a zone changes its offset, in zones half an hour off UTC or a day ahead, and at the
edges of a period that starts and ends mid-day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbeacon.overview import SERIES, summarise

ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Australia/Lord_Howe")
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def _counters(rng: random.Random) -> dict[str, dict[str, int]]:
    """A year of days: each series per hour (``name@H``, ``hour:H``), its day total (a few
    counted before hours were kept: at noon UTC), and a breakdown."""
    days: dict[str, dict[str, int]] = {}
    for offset in range(400):
        counts: dict[str, int] = {"client:gmail": rng.randrange(5)}
        for series in SERIES:
            total = 0
            for hour in rng.sample(range(24), 3):
                n = rng.randrange(1, 4)
                name = f"hour:{hour}" if series == "human_opens" else f"{series}@{hour}"
                counts[name] = n
                total += n
            before_hours = offset % 5 == 0 and offset  # today's are all kept by hour
            counts[series] = total + (rng.randrange(3) if before_hours else 0)
        days[(NOW.date() - timedelta(days=offset)).isoformat()] = counts
    return days


def _expected(days: dict[str, dict[str, int]], since: datetime, until: datetime, tz: str) -> dict:
    zone = ZoneInfo(tz)
    by_day: dict[date, dict[str, int]] = {}
    total: dict[str, int] = {}
    grid = [[0] * 24 for _ in range(7)]
    for key, counts in days.items():
        start = datetime.fromisoformat(key).replace(tzinfo=UTC)
        noon = start + timedelta(hours=12)
        passed = min(NOW, start + timedelta(days=1)) - start
        middle = start + (noon - start if passed == timedelta(days=1) else passed // 2)
        middle = middle.replace(minute=0, second=0)
        for series in SERIES:
            placed = 0
            for hour in range(24):
                name = f"hour:{hour}" if series == "human_opens" else f"{series}@{hour}"
                n = counts.get(name, 0)
                placed += n
                local = (start + timedelta(hours=hour)).astimezone(zone)
                if n and since <= start + timedelta(hours=hour) < until:
                    by_day.setdefault(local.date(), {}).setdefault(series, 0)
                    by_day[local.date()][series] += n
                    total[series] = total.get(series, 0) + n
                    if series == "human_opens":
                        grid[local.weekday()][local.hour] += n
            rest = counts[series] - placed
            if rest and since <= noon < until:
                local_day = noon.astimezone(zone).date()
                by_day.setdefault(local_day, {}).setdefault(series, 0)
                by_day[local_day][series] += rest
                total[series] = total.get(series, 0) + rest
        opens = [(start + timedelta(hours=h), counts.get(f"hour:{h}", 0)) for h in range(24)]
        held = sum(n for at, n in opens if since <= at < until)
        of = sum(n for _, n in opens)
        if 2 * held > of if of and 2 * held != of else since <= middle < until:
            # a day in part: where most of its opens are (the middle of its part passed by
            # NOW when it has none, or half)
            total["clients"] = total.get("clients", 0) + counts["client:gmail"]
    return {"total": total, "by_day": by_day, "grid": grid}


@pytest.mark.parametrize("tz", ZONES)
def test_local_days_and_hours_add_up_hour_by_hour(tz: str) -> None:
    rng = random.Random(tz)
    days = _counters(rng)
    for _ in range(6):
        until = NOW - timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
        since = until - timedelta(minutes=rng.randrange(60, 60 * 24 * 390))
        args = {"since": since.isoformat(), "until": until.isoformat()}
        got = summarise(lambda a, b: {k: v for k, v in days.items() if a <= k <= b}, args, NOW, tz)
        want = _expected(days, since, until, tz)
        assert got["opens_by_hour_of_week"] == want["grid"]
        assert got["messages"] == want["total"].get("messages", 0)
        assert got["human_opens"] == want["total"].get("human_opens", 0)
        assert got["machine_hits"]["total"] == want["total"].get("machine_hits", 0)
        assert got["replies"] == want["total"].get("replies", 0)
        assert got["clients"].get("gmail", 0) == want["total"].get("clients", 0)
        for day in got["by_day"]:
            counted = want["by_day"].get(date.fromisoformat(day["date"]), {})
            for series in ("human_opens", "machine_hits", "clicks"):
                assert day[series] == counted.get(series, 0), (day["date"], series)


@pytest.mark.parametrize("minutes_into_today", [10, 60 * 11 + 50, 60 * 23 + 50])
def test_the_last_30_days_count_todays_clients_as_they_count_its_opens(
    minutes_into_today: int,
) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=minutes_into_today)
    today = {"2026-11-20": {"hour:0": 1, "human_opens": 1, "client:gmail": 1}}
    got = summarise(lambda a, b: today, {}, now)
    assert got["human_opens"] == 1 and got["clients"] == {"gmail": 1}
    earlier = {"until": (now - timedelta(minutes=minutes_into_today)).isoformat()}
    assert summarise(lambda a, b: today, earlier, now)["clients"] == {}  # not in the period
    # counted before hours were kept (no hourly opens): the middle of the day's part so far
    old = {"2026-11-20": {"human_opens": 1, "client:gmail": 1}}
    assert summarise(lambda a, b: old, {}, now)["clients"] == {"gmail": 1}


def test_today_in_a_zone_behind_utc_counts_the_clients_of_the_opens_it_shows() -> None:
    """07:30 in Los Angeles (15:30 UTC): the local day began at 08:00 UTC; the opens since
    then, and their clients, are today's; the night's (UTC) opens are yesterday's."""
    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    day = "2026-11-20"
    args = {"since": "2026-11-20T00:00:00-08:00", "until": "2026-11-21T00:00:00-08:00"}
    later = {day: {"hour:9": 2, "hour:14": 1, "hour:3": 1, "human_opens": 4, "client:gmail": 4}}
    got = summarise(lambda a, b: later, args, now, "America/Los_Angeles")
    assert got["human_opens"] == 3 and got["clients"] == {"gmail": 4}  # most opens: today's
    night = {day: {"hour:2": 2, "hour:5": 1, "hour:9": 1, "human_opens": 4, "client:gmail": 4}}
    got = summarise(lambda a, b: night, args, now, "America/Los_Angeles")
    assert got["human_opens"] == 1 and got["clients"] == {}  # most opens: yesterday's (local)

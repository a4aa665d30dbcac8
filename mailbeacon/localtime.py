"""Times as the user reads them: in their zone (the one they saved, else their browser's, else
UTC), to the minute, and relative ("2 hours ago"). Stored times stay UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import FieldError

AREAS = (
    "Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/",
    "Indian/", "Pacific/",
)  # fmt: skip


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    """The named zone, or UTC for an empty or unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def known(name: str | None) -> bool:
    """Whether ``name`` is a zone this machine knows."""
    if not name or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def pick(*names: str | None) -> str:
    """The first known zone of ``names`` (saved, browser's), else UTC."""
    return next((n for n in names if n and known(n)), "UTC")


def asked_or_saved(asked: str | None, saved: Callable[[], str], *, field: str, kind: str) -> str:
    """The zone a caller asked for (refused as a FieldError on ``field`` when unknown: "must be
    ``kind`` such as Europe/Paris"), else ``saved()`` (read only then) when known, else UTC."""
    if asked:
        if not known(asked):
            raise FieldError(field, f"must be {kind} such as Europe/Paris, not {asked!r}")
        return asked
    return pick(saved())


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """Zones a person picks from: UTC and the IANA names under the continents and oceans."""
    found = sorted(z for z in available_timezones() if z.startswith(AREAS))
    return ("UTC", *found)


def local(at: datetime, tz: str) -> datetime:
    """``at`` in ``tz``; in UTC where the zone would take it off the calendar (a time in
    year 1, stored before input times were bounded, seen from a zone behind UTC)."""
    try:
        return at.astimezone(zone(tz))
    except OverflowError:
        return at


def abbreviation(at: datetime, tz: str) -> str:
    """The zone's short name at that moment ("CET", "EDT"; "+0530" where it has none)."""
    name = local(at, tz).tzname() or ""
    return name if name.isalpha() else local(at, tz).strftime("%z")


def when(at: datetime | None, tz: str, now: datetime | None = None) -> str:
    """A short local time: "Mar 2, 10:15" (with the year when it is not this year's)."""
    if at is None:
        return "never"
    moment = local(at, tz)
    year = "" if now is None or local(now, tz).year == moment.year else f" {moment.year}"
    return f"{moment:%b} {moment.day}{year}, {moment:%H:%M}"


def when_zone(at: datetime | None, tz: str, now: datetime | None = None) -> str:
    """``when`` with the zone's abbreviation, for text read away from any page (alerts)."""
    if at is None:
        return "never"
    return f"{when(at, tz, now)} {abbreviation(at, tz)}"


def stamp(at: datetime | None, tz: str) -> str:
    """A sortable local time for tables and CSV: "2026-03-02 10:15"."""
    return local(at, tz).strftime("%Y-%m-%d %H:%M") if at else ""


def ago(at: datetime | None, now: datetime) -> str:
    """How long ago, in words: "just now", "5 minutes ago", "yesterday", "3 weeks ago"."""
    if at is None:
        return ""
    seconds = (now - at).total_seconds()
    if seconds < 0:
        return "in the future" if seconds < -60 else "just now"
    if seconds < 60:
        return "just now"
    steps = (
        (3600, 60, "minute"),
        (86400, 3600, "hour"),
        (2 * 86400, 86400, "day"),
        (14 * 86400, 86400, "day"),
        (60 * 86400, 7 * 86400, "week"),
        (730 * 86400, 30 * 86400, "month"),
    )
    for limit, unit, name in steps:
        if seconds < limit:
            n = int(seconds // unit)
            if name == "day" and n == 1:
                return "yesterday"
            return f"{n} {name}{'s' if n != 1 else ''} ago"
    return f"{int(seconds // (365 * 86400))} years ago"


def day_start(day: datetime, tz: str) -> datetime:
    """Midnight at the start of ``day``'s date in the zone, as an aware datetime."""
    z = zone(tz)
    return datetime(day.year, day.month, day.day, tzinfo=z)


def next_day(moment: datetime) -> datetime:
    """The same wall-clock time a day later (a local day may be 23 or 25 hours long)."""
    z = moment.tzinfo
    plain = moment.replace(tzinfo=None) + timedelta(days=1)
    return plain.replace(tzinfo=z)

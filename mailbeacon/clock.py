"""Time as a port, so rules about windows and quiet hours are testable without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> datetime:
        self.at = self.at + timedelta(**kwargs)
        return self.at


def parse_time(value: str) -> datetime:
    """Parse ISO 8601 into UTC; a naive value is taken as UTC.

    Converting here means a time at the edge of the calendar (9999-12-31T23:59:59-23:59 is
    past year 9999 in UTC) is a ValueError now, not an OverflowError wherever it is first used.
    """
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    try:
        return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError(f"time out of range: {value[:40]!r}") from exc


INPUT_YEARS = (1970, 9000)


def time_from_input(value: str) -> datetime:
    """A time someone sent or typed (the API, the add-on, the CLI, a query): ``parse_time``,
    within ``INPUT_YEARS``. A send time in year 1 used to be stored, and every page showing
    it to someone in a zone behind UTC failed (its local time is before the calendar)."""
    at = parse_time(value)
    if not INPUT_YEARS[0] <= at.year <= INPUT_YEARS[1]:
        raise ValueError(f"{value[:40]!r} is not between the years 1970 and 9000")
    return at


def iso(at: datetime | None) -> str | None:
    """Render a time the one way the contracts use: ISO 8601 in UTC with a Z."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

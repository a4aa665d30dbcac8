"""What templates write times, counts and codes with: the page's zone, plurals, the one
vocabulary (mailbeacon.words)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g

from mailbeacon import localtime, words
from mailbeacon.clock import parse_time


def pager_args(args: Any, cursor: str | None) -> str:
    """The list's query string with the cursor replaced (None: the first page)."""
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in args.items(multi=True) if k != "cursor" and v]
    return urlencode(kept + ([("cursor", cursor)] if cursor else []))


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_time(str(value))
    except ValueError:
        return None


def _now() -> datetime:
    site = getattr(g, "site", None)
    return site.deps.clock.now() if site is not None else datetime.now().astimezone()


def local(value: Any) -> str:
    """A stored time (ISO text or datetime) in the page's zone: "Mar 2, 10:15"."""
    at = _moment(value)
    return localtime.when(at, g.zone or "UTC", _now()) if at else "\u2013"


def stamp(value: Any) -> str:
    """A stored time in the page's zone, sortable: "2026-03-02 10:15"."""
    at = _moment(value)
    return localtime.stamp(at, g.zone or "UTC") if at else ""


def ago(value: Any) -> str:
    """How long ago, in words ("2 hours ago"); "" for no time."""
    at = _moment(value)
    return localtime.ago(at, _now()) if at else ""


FILTERS: dict[str, Any] = {
    "pager_args": pager_args,
    "local": local,
    "stamp": stamp,
    "ago": ago,
    "plural": words.plural,
    "status_word": words.status,
    "verdict_word": words.verdict,
    "reasons_words": words.reasons,
}


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 129600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


FILTERS["duration"] = duration

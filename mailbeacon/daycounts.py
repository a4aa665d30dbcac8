"""A user's daily counters: what each event and each message's first open add to its days.

Kept as events arrive, by every store adapter, so the overview never counts events. Days and
hours are UTC; every series the overview draws per day is also kept per UTC hour (``name@H``),
so any time zone's days can be summed from them exactly (``local.py``). A message's firsts
(opened, clicked, time to first open) count on the day it was tracked: the open rate of a
period is about the messages of that period. A relabelling moves counts by the difference of
what the event added before and after, so the counters always equal a replay of the stored
events.
"""

from __future__ import annotations

import math
from datetime import datetime

from .model import Event, Message

DayCounts = dict[str, dict[str, int]]
"""{"YYYY-MM-DD": {counter name: n}}. Names: messages, opened, clicked, human_opens, clicks,
machine_hits, verdict:<v>, client:<c>, hour:<0-23> (human opens by hour), ttfo:<bucket>; for
replies: replied and ttfr:<bucket> (on the tracking day, as opened), replies and
machine_replies (on the reply's day); and hourly series ``<name>@H`` of the HOURLY names
(messages, opened, clicked and replied by the hour the message was tracked)."""

TTFO_STEPS_PER_DOUBLING = 4  # buckets of 2^(1/4): about 19% wide
HOURLY = (
    "messages",
    "opened",
    "clicked",
    "clicks",
    "machine_hits",
    "replied",
    "replies",
    "machine_replies",
)
"""Series kept per hour as well as per day (human opens are per hour as ``hour:H``)."""


def day_of(at: datetime) -> str:
    return at.date().isoformat()


def ttfo_bucket(seconds: float) -> int:
    return math.floor(TTFO_STEPS_PER_DOUBLING * math.log2(max(seconds, 0.0) + 1.0))


def ttfo_seconds(bucket: int) -> float:
    """The middle of a bucket, in seconds."""
    return 2 ** ((bucket + 0.5) / TTFO_STEPS_PER_DOUBLING) - 1.0


def _add(days: DayCounts, at: datetime, name: str, n: int = 1) -> None:
    counts = days.setdefault(day_of(at), {})
    counts[name] = counts.get(name, 0) + n
    if name in HOURLY:
        hourly = f"{name}@{at.hour}"
        counts[hourly] = counts.get(hourly, 0) + n


def message_added(message: Message) -> DayCounts:
    """The day counters a newly tracked message moves."""
    days: DayCounts = {}
    _add(days, message.created_at, "messages")
    return days


def event_days(event: Event) -> DayCounts:
    """What one stored event adds to the counters of the day it happened."""
    days: DayCounts = {}
    at = event.at
    if event.kind == "reply":
        _add(days, at, "replies" if event.is_human else "machine_replies")
    elif not event.is_human:
        _add(days, at, "machine_hits")
        _add(days, at, f"verdict:{event.verdict.value}")
    elif event.kind == "open":
        _add(days, at, "human_opens")
        _add(days, at, f"hour:{at.hour}")
        _add(days, at, f"client:{event.client or 'other'}")
    else:
        _add(days, at, "clicks")
    return days


def firsts(
    message: Message,
    *,
    opened: bool,
    clicked: bool,
    ttfo: int | None,
    ttfr: int | None,
    implied_open_at: datetime | None = None,
) -> DayCounts:
    """What a message's engagement adds to the day it was tracked: opened (with the bucket of
    its time to first open), clicked, and replied (``ttfr``: the bucket of its time to the
    first reply, None when no person replied). ``implied_open_at``: a click or reply with no
    pixel fetch implies one open by people (rollup.Summary.implied_opens), counted at that
    time as the list and the email's page count it, so the overview's opens are their sum."""
    days: DayCounts = {}
    if implied_open_at is not None:
        _add(days, implied_open_at, "human_opens")
        _add(days, implied_open_at, f"hour:{implied_open_at.hour}")
    tracked = message.created_at
    if opened:
        _add(days, tracked, "opened")
        if ttfo is not None:
            _add(days, tracked, f"ttfo:{ttfo}")
    if clicked:
        _add(days, tracked, "clicked")
    if ttfr is not None:
        _add(days, tracked, "replied")
        _add(days, tracked, f"ttfr:{ttfr}")
    return days


def merge_days(into: DayCounts, more: DayCounts, sign: int = 1) -> DayCounts:
    """Add ``more`` (or subtract it, ``sign`` -1) into ``into``; counters that end at zero
    are dropped (a relabelling that moves a count leaves no zero behind)."""
    for day, counts in more.items():
        target = into.setdefault(day, {})
        for name, n in counts.items():
            total = target.get(name, 0) + sign * n
            if total:
                target[name] = total
            else:
                target.pop(name, None)
        if not target:
            del into[day]
    return into


def difference(after: DayCounts, before: DayCounts) -> DayCounts:
    """``after`` minus ``before``: the increments that turn one into the other."""
    return merge_days(merge_days({}, after), before, -1)

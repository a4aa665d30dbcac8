"""Summaries kept as events arrive, so listing and the overview never count events at read time.

Two shapes, both updated by every store adapter when it stores an event (SQLite in the same
transaction, memory under its lock, Firestore in the message's coalesced write):
- a message's ``Summary``: its counts, status and times, read by the list;
- a user's daily counters (``DayCounts``), read by the overview: messages tracked that day and
  the opens, clicks and machine hits that happened that day, by hour, client and verdict. The
  first open of a message (``opened``, ``clicked``, time to first open) is counted on the day
  the message was tracked, so the open rate of a period is about the messages of that period.

Counts follow the verdict stored with each event. The read-time hindsight of
``classify.reconcile`` (a scanner walking every link) shows on the email page's timeline but is
not subtracted from these counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .clock import iso, parse_time
from .model import Event, Message
from .queries import MessageQuery, time_key

DayCounts = dict[str, dict[str, int]]
"""{"YYYY-MM-DD": {counter name: n}}; names: messages, opened, clicked, human_opens, clicks,
machine_hits, verdict:<v>, client:<c>, hour:<0-23> (human opens), ttfo:<bucket>; for replies
(see ``apply_reply``): replied, replies, machine_replies, ttfr:<bucket>."""

STATUSES = ("sent", "opened", "clicked", "replied")
"""In order: each implies the ones before it (a reply or a click implies an open)."""
TTFO_STEPS_PER_DOUBLING = 4  # buckets of 2^(1/4): about 19% wide


@dataclass(frozen=True)
class Summary:
    """A message's engagement as counted so far (stored verdicts)."""

    status: str = "sent"
    human_opens: int = 0
    unique_human_opens: int = 0
    machine_opens: int = 0
    human_clicks: int = 0
    machine_clicks: int = 0
    first_opened_at: datetime | None = None
    last_opened_at: datetime | None = None
    last_activity_at: datetime | None = None
    link_clicks: tuple[tuple[int, int], ...] = ()  # (link index, human clicks)
    human_replies: int = 0
    machine_replies: int = 0
    """Auto-replies, bounces and read receipts in the thread: never a reply."""
    first_replied_at: datetime | None = None

    @property
    def implied_opens(self) -> int:
        """As in summary.summarize: clicks or replies without a human pixel fetch imply one
        open (the reader could not answer unread mail)."""
        return 1 if (self.human_clicks or self.human_replies) and not self.human_opens else 0

    def public_counts(self) -> dict[str, Any]:
        implied = self.implied_opens
        return {
            "status": self.status,
            "opens": {
                "human": self.human_opens + implied,
                "unique_human": self.unique_human_opens + implied,
                "machine": self.machine_opens,
            },
            "clicks": {"human": self.human_clicks, "machine": self.machine_clicks},
            **reply_counts(self),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "human_opens": self.human_opens,
            "unique_human_opens": self.unique_human_opens,
            "machine_opens": self.machine_opens,
            "human_clicks": self.human_clicks,
            "machine_clicks": self.machine_clicks,
            "first_opened_at": iso(self.first_opened_at),
            "last_opened_at": iso(self.last_opened_at),
            "last_activity_at": iso(self.last_activity_at),
            "link_clicks": {str(i): n for i, n in self.link_clicks},
            "human_replies": self.human_replies,
            "machine_replies": self.machine_replies,
            "first_replied_at": iso(self.first_replied_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Summary:
        if not data:
            return cls()

        def when(name: str) -> datetime | None:
            value = data.get(name)
            return parse_time(value) if value else None

        return cls(
            status=data.get("status") or "sent",
            human_opens=int(data.get("human_opens") or 0),
            unique_human_opens=int(data.get("unique_human_opens") or 0),
            machine_opens=int(data.get("machine_opens") or 0),
            human_clicks=int(data.get("human_clicks") or 0),
            machine_clicks=int(data.get("machine_clicks") or 0),
            first_opened_at=when("first_opened_at"),
            last_opened_at=when("last_opened_at"),
            last_activity_at=when("last_activity_at"),
            link_clicks=tuple(
                sorted((int(i), int(n)) for i, n in (data.get("link_clicks") or {}).items())
            ),
            human_replies=int(data.get("human_replies") or 0),
            machine_replies=int(data.get("machine_replies") or 0),
            first_replied_at=when("first_replied_at"),
        )


def reply_counts(summary: Summary) -> dict[str, Any]:
    """A summary's replies as the API, the list and CSV show them, and the open a reply
    implies (with its reason) when no pixel fetch was a person's."""
    implied = (
        1 if summary.human_replies and not (summary.human_opens or summary.human_clicks) else 0
    )
    return {
        "replies": {
            "human": summary.human_replies,
            "machine": summary.machine_replies,
            "first_replied_at": iso(summary.first_replied_at),
        },
        "opens_implied_by_reply": implied,
    }


@dataclass(frozen=True)
class MessageRow:
    """One line of the list: the message (without its links) and its summary."""

    message: Message
    summary: Summary


@dataclass(frozen=True)
class MessagePage:
    """A page of the list and where the next one starts: the sort key and message id of the
    last row the store read (None at the end). A store that filters after reading (Firestore's
    search) may hand back fewer rows than asked and still a position to go on from."""

    rows: list[MessageRow]
    next_after: tuple[str, str] | None = None


def sort_key(row: MessageRow, sort: str) -> str:
    """The value a row is ordered by, as a MessageQuery.after key."""
    return time_key(row.summary.last_activity_at if sort == "activity" else row.message.created_at)


def page_of(rows: list[MessageRow], query: MessageQuery) -> MessagePage:
    """A page from up to ``query.limit + 1`` rows read in order (the extra one says: more)."""
    page = rows[: query.limit]
    if len(rows) > query.limit and page:
        return MessagePage(page, (sort_key(page[-1], query.sort), page[-1].message.id))
    return MessagePage(page)


def day_of(at: datetime) -> str:
    return at.date().isoformat()


def message_added(message: Message) -> DayCounts:
    """The day counters a newly tracked message moves."""
    return {day_of(message.created_at): {"messages": 1}}


def ttfo_bucket(seconds: float) -> int:
    return math.floor(TTFO_STEPS_PER_DOUBLING * math.log2(max(seconds, 0.0) + 1.0))


def ttfo_seconds(bucket: int) -> float:
    """The middle of a bucket, in seconds."""
    return 2 ** ((bucket + 0.5) / TTFO_STEPS_PER_DOUBLING) - 1.0


def apply_event(
    message: Message, summary: Summary, event: Event, *, new_device: bool
) -> tuple[Summary, DayCounts]:
    """The summary after ``event`` and what it adds to the owner's day counters.

    ``new_device`` says whether a human open came from a device (address hash, user agent,
    UTC day) not seen on this message before: the adapter knows how to look that up.
    """
    days: DayCounts = {}

    def add(day: str, name: str, n: int = 1) -> None:
        counts = days.setdefault(day, {})
        counts[name] = counts.get(name, 0) + n

    if event.kind == "reply":
        return apply_reply(message, summary, event)
    on = day_of(event.at)
    if not event.is_human:
        add(on, "machine_hits")
        add(on, f"verdict:{event.verdict.value}")
        if event.kind == "open":
            return replace(summary, machine_opens=summary.machine_opens + 1), days
        return replace(summary, machine_clicks=summary.machine_clicks + 1), days

    tracked_on = day_of(message.created_at)
    changes: dict[str, Any] = {
        "first_opened_at": min(filter(None, (summary.first_opened_at, event.at))),
        "last_opened_at": max(filter(None, (summary.last_opened_at, event.at))),
        "last_activity_at": max(filter(None, (summary.last_activity_at, event.at))),
    }
    if summary.status == "sent":
        add(tracked_on, "opened")
        delay = (event.at - message.reference_time).total_seconds()
        add(tracked_on, f"ttfo:{ttfo_bucket(delay)}")
    if event.kind == "open":
        add(on, "human_opens")
        add(on, f"hour:{event.at.hour}")
        add(on, f"client:{event.client or 'other'}")
        changes["human_opens"] = summary.human_opens + 1
        changes["unique_human_opens"] = summary.unique_human_opens + (1 if new_device else 0)
        changes["status"] = "opened" if summary.status == "sent" else summary.status
    else:
        add(on, "clicks")
        changes["human_clicks"] = summary.human_clicks + 1
        if event.link_index is not None:
            per_link = dict(summary.link_clicks)
            per_link[event.link_index] = per_link.get(event.link_index, 0) + 1
            changes["link_clicks"] = tuple(sorted(per_link.items()))
        if not summary.human_clicks:
            add(tracked_on, "clicked")
        changes["status"] = "replied" if summary.status == "replied" else "clicked"
    return replace(summary, **changes), days


def apply_reply(message: Message, summary: Summary, event: Event) -> tuple[Summary, DayCounts]:
    """A reply event: a person's answer makes the email ``replied`` (and opened: counted on
    the tracking day, as a click's implied open is), with the time to the first reply; an
    auto-reply, bounce or read receipt is counted apart and changes nothing else."""
    on, tracked_on = day_of(event.at), day_of(message.created_at)
    if not event.is_human:
        return replace(summary, machine_replies=summary.machine_replies + 1), {
            on: {"machine_replies": 1}
        }
    days: DayCounts = {on: {"replies": 1}}
    tracked = days.setdefault(tracked_on, {})
    delay = (event.at - message.reference_time).total_seconds()
    if summary.status == "sent":
        tracked["opened"] = tracked.get("opened", 0) + 1
        tracked[f"ttfo:{ttfo_bucket(delay)}"] = tracked.get(f"ttfo:{ttfo_bucket(delay)}", 0) + 1
    if not summary.human_replies:
        tracked["replied"] = tracked.get("replied", 0) + 1
        tracked[f"ttfr:{ttfo_bucket(delay)}"] = tracked.get(f"ttfr:{ttfo_bucket(delay)}", 0) + 1
    first = min(filter(None, (summary.first_replied_at, event.at)))
    return replace(
        summary,
        status="replied",
        human_replies=summary.human_replies + 1,
        first_replied_at=first,
        first_opened_at=summary.first_opened_at or event.at,
        last_opened_at=summary.last_opened_at or event.at,
        last_activity_at=max(filter(None, (summary.last_activity_at, event.at))),
    ), days


def merge_days(into: DayCounts, more: DayCounts) -> DayCounts:
    for day, counts in more.items():
        target = into.setdefault(day, {})
        for name, n in counts.items():
            target[name] = target.get(name, 0) + n
    return into

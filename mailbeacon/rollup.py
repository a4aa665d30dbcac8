"""A message's summary: its counts, status and times, kept as events arrive and as hindsight
relabels them, by every store adapter in the same write as the event (SQLite in its
transaction, memory under its lock, Firestore in the message's coalesced commit).

This is the one derivation of every number Mailbeacon shows: the list, the email page, the
API, the CSV, the add-on's cards, `stats`, `export` and the digest all read a ``Summary``, and
the overview reads the day counters (``daycounts``) the same functions move. ``apply_event``
counts a stored event in; ``relabel_event`` moves an event the pipeline's hindsight relabelled
(a scanner's link walk, a burst, a click pairing: ``classify.reconcile``) from the human counts
to the machine ones, and the day counters with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .clock import iso, parse_time
from .daycounts import (
    DayCounts,
    day_of,
    difference,
    event_days,
    firsts,
    merge_days,
    message_added,
    ttfo_bucket,
    ttfo_seconds,
)
from .model import Event, Message
from .queries import MessageQuery, time_key

STATUS_ORDER = ("sent", "opened", "clicked", "replied")
"""Statuses nest: each implies those before it (a click or a reply implies an open); the list's
filter reads them as a ladder (``reaches``)."""
STATUSES = STATUS_ORDER

__all__ = [
    "STATUSES",
    "STATUS_ORDER",
    "DayCounts",
    "MessagePage",
    "MessageRow",
    "Summary",
    "apply_event",
    "day_of",
    "merge_days",
    "message_added",
    "page_of",
    "rank",
    "reaches",
    "relabel_event",
    "relabel_stored",
    "sort_key",
    "ttfo_bucket",
    "ttfo_seconds",
]


def rank(status: str) -> int:
    """A status's place in STATUS_ORDER (an unknown one counts as sent)."""
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else 0


def _pairs(data: Any) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(k), int(v)) for k, v in (data or {}).items() if int(v)))


def _bump(pairs: tuple[tuple[str, int], ...], keys: Any, n: int) -> tuple[tuple[str, int], ...]:
    counts = dict(pairs)
    for key in keys:
        counts[key] = counts.get(key, 0) + n
    return tuple(sorted((k, v) for k, v in counts.items() if v))


@dataclass(frozen=True)
class Summary:
    """A message's engagement as counted so far. A human click implies an open: when people
    clicked but no pixel fetch was human (images blocked), the click counts as one open."""

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
    machine_by_verdict: tuple[tuple[str, int], ...] = ()
    machine_by_reason: tuple[tuple[str, int], ...] = ()
    ttfo: int | None = None
    """The time-to-first-open bucket counted in the day counters (None: none counted)."""
    human_replies: int = 0
    machine_replies: int = 0
    """Auto-replies, bounces and read receipts in the thread: never a reply."""
    first_replied_at: datetime | None = None

    @property
    def implied_opens(self) -> int:
        """Clicks or replies without a human pixel fetch imply one open (one person, one
        device: the reader could not click or answer unread mail)."""
        return 1 if (self.human_clicks or self.human_replies) and not self.human_opens else 0

    @property
    def opens_implied_by_click(self) -> int:
        return 1 if self.human_clicks and not self.human_opens else 0

    @property
    def opens_implied_by_reply(self) -> int:
        return 1 if self.human_replies and not (self.human_opens or self.human_clicks) else 0

    @property
    def machine_hits(self) -> int:
        return self.machine_opens + self.machine_clicks

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
            "replies": {
                "human": self.human_replies,
                "machine": self.machine_replies,
                "first_replied_at": iso(self.first_replied_at),
            },
            "opens_implied_by_reply": self.opens_implied_by_reply,
        }

    def public(self) -> dict[str, Any]:
        """The counts as `stats --json`, the API and the export show them."""
        return {
            **self.public_counts(),
            "opens_implied_by_click": self.opens_implied_by_click,
            "first_opened_at": iso(self.first_opened_at),
            "last_opened_at": iso(self.last_opened_at),
            "last_activity_at": iso(self.last_activity_at),
            "machine": {
                "by_verdict": dict(self.machine_by_verdict),
                "by_reason": dict(self.machine_by_reason),
            },
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
            "machine_by_verdict": dict(self.machine_by_verdict),
            "machine_by_reason": dict(self.machine_by_reason),
            "ttfo": self.ttfo,
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

        ttfo = data.get("ttfo")
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
            machine_by_verdict=_pairs(data.get("machine_by_verdict")),
            machine_by_reason=_pairs(data.get("machine_by_reason")),
            ttfo=int(ttfo) if ttfo is not None else None,
            human_replies=int(data.get("human_replies") or 0),
            machine_replies=int(data.get("machine_replies") or 0),
            first_replied_at=when("first_replied_at"),
        )


def _engagement(summary: Summary) -> str:
    """The status the counts give: replied, clicked, opened or sent."""
    if summary.human_replies:
        return "replied"
    return "clicked" if summary.human_clicks else "opened" if summary.human_opens else "sent"


def _ttfo(message: Message, summary: Summary) -> int | None:
    """The bucket counted for a summary (older summaries did not record it: derived)."""
    if summary.ttfo is not None or summary.first_opened_at is None:
        return summary.ttfo
    return ttfo_bucket((summary.first_opened_at - message.reference_time).total_seconds())


def _settled(message: Message, before: Summary, after: Summary) -> tuple[Summary, DayCounts]:
    """``after`` with its status and ttfo bucket, and what its firsts move in the days."""
    status = _engagement(after)
    ttfo = _ttfo(message, before)
    if after.first_opened_at != before.first_opened_at:
        ttfo = (
            ttfo_bucket((after.first_opened_at - message.reference_time).total_seconds())
            if after.first_opened_at is not None
            else None
        )
    settled = replace(after, status=status, ttfo=ttfo if rank(status) else None)
    moved = difference(
        _firsts(message, settled, settled.ttfo), _firsts(message, before, _ttfo(message, before))
    )
    return settled, moved


def _firsts(message: Message, summary: Summary, ttfo: int | None) -> DayCounts:
    replied = summary.first_replied_at if summary.human_replies else None
    return firsts(
        message,
        opened=rank(summary.status) >= 1,
        clicked=summary.human_clicks > 0,
        ttfo=ttfo,
        ttfr=(
            ttfo_bucket((replied - message.reference_time).total_seconds())
            if replied is not None
            else None
        ),
        implied_open_at=summary.first_opened_at if summary.implied_opens else None,
    )


def _count(summary: Summary, event: Event, n: int, *, device: bool) -> Summary:
    """The counts with ``event`` added (``n`` 1) or taken out (``n`` -1); times apart."""
    if event.kind == "reply":
        if event.is_human:
            return replace(summary, human_replies=summary.human_replies + n)
        return replace(summary, machine_replies=summary.machine_replies + n)
    if not event.is_human:
        changes: dict[str, Any] = {
            "machine_by_verdict": _bump(summary.machine_by_verdict, [event.verdict.value], n),
            "machine_by_reason": _bump(summary.machine_by_reason, event.reasons, n),
        }
        if event.kind == "open":
            changes["machine_opens"] = summary.machine_opens + n
        else:
            changes["machine_clicks"] = summary.machine_clicks + n
        return replace(summary, **changes)
    if event.kind == "open":
        return replace(
            summary,
            human_opens=summary.human_opens + n,
            unique_human_opens=summary.unique_human_opens + (n if device else 0),
        )
    per_link = dict(summary.link_clicks)
    if event.link_index is not None:
        per_link[event.link_index] = per_link.get(event.link_index, 0) + n
    return replace(
        summary,
        human_clicks=summary.human_clicks + n,
        link_clicks=tuple(sorted((i, c) for i, c in per_link.items() if c)),
    )


def apply_event(
    message: Message, summary: Summary, event: Event, *, new_device: bool
) -> tuple[Summary, DayCounts]:
    """The summary after ``event`` and what it adds to the owner's day counters.

    ``new_device`` says whether a human open came from a device (address hash, user agent,
    UTC day) not seen on this message before: the adapter knows how to look that up.
    """
    after = _count(summary, event, 1, device=new_device)
    if event.kind == "reply" and event.is_human:
        after = replace(
            after,
            first_replied_at=min(filter(None, (summary.first_replied_at, event.at))),
            first_opened_at=summary.first_opened_at or event.at,
            last_opened_at=summary.last_opened_at or event.at,
            last_activity_at=max(filter(None, (summary.last_activity_at, event.at))),
        )
    elif event.is_human:
        after = replace(
            after,
            first_opened_at=min(filter(None, (summary.first_opened_at, event.at))),
            last_opened_at=max(filter(None, (summary.last_opened_at, event.at))),
            last_activity_at=max(filter(None, (summary.last_activity_at, event.at))),
        )
    settled, moved = _settled(message, summary, after)
    return settled, merge_days(event_days(event), moved)


def relabel_event(
    message: Message,
    summary: Summary,
    old: Event,
    new: Event,
    *,
    first: datetime | None,
    last: datetime | None,
    device_gone: bool,
) -> tuple[Summary, DayCounts]:
    """The summary after a stored event changed verdict (``old`` as counted, ``new`` as it
    is now), and how the day counters move.

    ``first`` and ``last`` are the times of the message's earliest and latest human events
    apart from this one, as far as the adapter knows (Firestore: its recent window); they
    replace a time only when this event held it. ``device_gone``: no other human open of
    the message came from this event's device that day.
    """
    after = _count(summary, old, -1, device=device_gone)
    after = _count(after, new, 1, device=False)
    if old.is_human and not new.is_human:
        opened = after.human_opens + after.human_clicks + after.human_replies > 0
        first_at = after.first_opened_at
        if first_at == old.at:
            first_at = first if opened else None
        last_at = after.last_opened_at
        if last_at == old.at:
            last_at = (last or first_at) if opened else None
        activity = after.last_activity_at
        if activity == old.at:
            activity = last_at
        after = replace(
            after, first_opened_at=first_at, last_opened_at=last_at, last_activity_at=activity
        )
    settled, moved = _settled(message, summary, after)
    days = merge_days(merge_days(event_days(new), event_days(old), -1), moved)
    return settled, days


def relabel_stored(
    message: Message,
    summary: Summary,
    old: Event | None,
    new: Event,
    stored: Iterable[Event],
    *,
    device_gone: bool | None = None,
) -> tuple[Summary, DayCounts, bool] | None:
    """``relabel_event`` for an adapter that holds the message's stored events (``stored``:
    all it knows of, ``old`` among them or not): the summary after the relabelling, how the
    day counters move, and whether ``old``'s device is gone. None when nothing moves: ``old``
    not stored, or already relabelled (a redelivery: nothing moves twice).

    ``device_gone`` given (a caller that counts opens per device) is used as it is; else no
    other human open in ``stored`` came from ``old``'s device.
    """
    if old is None or not old.is_human or new.is_human:
        return None
    humans = [e for e in stored if e.is_human and e.id != old.id]
    if device_gone is None:
        device_gone = old.kind == "open" and not any(
            e.kind == "open" and e.device == old.device for e in humans
        )
    after, days = relabel_event(
        message,
        summary,
        old,
        new,
        first=min((e.at for e in humans), default=None),
        last=max((e.at for e in humans), default=None),
        device_gone=device_gone,
    )
    return after, days, device_gone


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
    if sort == "activity":
        return time_key(row.summary.last_activity_at)
    return time_key(row.message.reference_time)


def reaches(status: str, wanted: str) -> bool:
    """Whether a message of ``status`` passes the filter ``wanted`` (statuses nest; ``sent``
    means not opened yet)."""
    return rank(status) == 0 if wanted == "sent" else rank(status) >= rank(wanted)


def page_of(rows: list[MessageRow], query: MessageQuery) -> MessagePage:
    """A page from up to ``query.limit + 1`` rows read in order (the extra one says: more)."""
    page = rows[: query.limit]
    if len(rows) > query.limit and page:
        return MessagePage(page, (sort_key(page[-1], query.sort), page[-1].message.id))
    return MessagePage(page)

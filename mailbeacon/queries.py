"""What a store is asked when listing: the filters and the position to continue from.

Paging is by key (the sort value and the message id of the last row shown), never by offset,
so a deep page costs what the first one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SORTS = ("newest", "oldest", "activity")


@dataclass(frozen=True)
class MessageQuery:
    """Filters for one page of a user's messages. ``status`` nests: ``opened`` is every
    message opened or more (clicked, replied), ``sent`` the ones not opened yet. ``since`` and
    ``until`` bound the time the list shows (sent, else tracked), as do the ``newest`` and
    ``oldest`` orders. ``after`` is (sort key, message id) of the last row of the previous
    page; for ``activity`` the key is the ISO time of the last human activity, or "" for
    messages nobody opened (they come last)."""

    status: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "newest"
    limit: int = 50
    after: tuple[str, str] | None = None


@dataclass(frozen=True)
class EventKey:
    """Where a page of events (newest first) continues: strictly older than this event."""

    at: datetime
    id: str


def time_key(at: datetime | None) -> str:
    """A time as a sort key that orders as text (UTC, microseconds); "" for none."""
    from datetime import UTC

    return at.astimezone(UTC).isoformat(timespec="microseconds") if at else ""


def matches(text: str, q: str | None) -> bool:
    return not q or q.lower() in text.lower()


def search_text(subject: str, recipients: tuple[str, ...] | list[str]) -> str:
    """What ``q`` is matched against: the subject and every recipient, lower-cased."""
    return (subject + "\n" + "\n".join(recipients)).lower()

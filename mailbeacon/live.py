"""The live feed: the last minutes of each owner's events, for dashboard pages left open.

Every processed event is appended under ``{owner}|{processed at}|{event id}``, whichever
process (the local worker, a Cloud Function) processed it. A reader asks "what came after my
cursor" with one prefix read per minute since the cursor (usually one or two), so a page
polling every few seconds reads only what is new, however busy its owner is. Entries older
than ``KEEP`` are swept at most once a minute per owner as new ones arrive: a page that was
away longer sees only the last ``KEEP``. A cursor is the key of the last entry seen; readers
look back ``OVERLAP`` before it, because two processes' clocks and write latencies differ a
little, so an event can be delivered twice: clients deduplicate by event id.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from .clock import iso, parse_time
from .errors import InvalidInput
from .model import Event, Message
from .records import Namespace, Records

log = logging.getLogger(__name__)

FEED = Namespace.LIVE_EVENTS
SWEPT = Namespace.LIVE_SWEPT
KEEP = timedelta(minutes=15)
OVERLAP = timedelta(seconds=2)
SWEEP_EVERY = timedelta(minutes=1)
MAX_CURSOR_CHARS = 200
"""A time and an event id: well under this."""
MINUTE = 16  # len("2026-01-05T10:00"): keys of one minute share this prefix after the owner


def entry(message: Message, event: Event) -> dict[str, Any]:
    """What a live page needs to show an event without another request."""
    return {
        "id": event.id,
        "message_id": message.id,
        "subject": message.subject,
        "recipients": list(message.recipients[:3]),
        "kind": event.kind,
        "at": iso(event.at),
        "verdict": event.verdict.value,
        "human": event.is_human,
        "client": event.client,
        "url": event.url,
        "reasons": list(event.reasons),
    }


def entry_key(owner: str, processed: datetime, event_id: str) -> str:
    """An entry's key: the owner's entries in the order they were processed."""
    return f"{owner}|{iso(processed)}|{event_id}"


def append(records: Records, message: Message, event: Event, now: datetime) -> None:
    """Add one processed event to its owner's feed and drop entries older than KEEP."""
    owner = message.owner
    records.put_record(FEED, entry_key(owner, now, event.id), entry(message, event))
    swept = records.get_record(SWEPT, owner)
    last = parse_time(swept["at"]) if swept else None
    if last is not None and last > now - SWEEP_EVERY:
        return
    records.put_record(SWEPT, owner, {"at": iso(now)})
    oldest = f"{owner}|{iso(now - KEEP)}"
    # Only the minutes that expired since the last sweep: a busy owner's feed holds thousands
    # of entries, and reading them all on every sweep timed out on Firestore under load.
    prefixes = (
        [f"{owner}|{minute}" for minute in _minutes(last - KEEP - SWEEP_EVERY, now - KEEP)]
        if last is not None and last > now - KEEP
        else [f"{owner}|"]
    )
    for prefix in prefixes:
        for key, _ in records.list_records(FEED, prefix=prefix):
            if key >= oldest:
                return
            records.delete_record(FEED, key)


def append_quietly(records: Records, message: Message, event: Event, now: datetime) -> None:
    """``append`` for a store that has stored the event already: a failure here is logged,
    never raised (the hit is stored; its redelivery would not add it to the feed again)."""
    try:
        append(records, message, event, now)
    except Exception:
        log.exception("live feed: could not add event %s", event.id)


def cursor_now(now: datetime) -> str:
    """A cursor meaning "from now on" (a page renders it; it sees only later events)."""
    return iso(now)


def since(
    records: Records, owner: str, cursor: str | None, now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """Events of ``owner`` processed after ``cursor`` (oldest first) and the next cursor.

    No cursor means "from now on": nothing is returned and the cursor is now.
    """
    if not cursor:
        return [], cursor_now(now)
    after = max(_cursor_time(cursor) - OVERLAP, now - KEEP)
    floor, last = f"{owner}|{iso(after)}", f"{owner}|{cursor}"
    found = [
        (key, value)
        for minute in _minutes(after, now)
        for key, value in records.list_records(FEED, prefix=f"{owner}|{minute}")
        if key > floor and key != last  # the cursor's own entry was seen already
    ]
    if not found:
        return [], cursor
    return [value for _, value in found], found[-1][0].partition("|")[2]


def _cursor_time(cursor: str) -> datetime:
    """The time a cursor names; InvalidInput for anything we would not have given out (a
    time at the edge of the calendar, such as 0001-01-01, must not reach date arithmetic)."""
    refused = InvalidInput("cursor is not one this server gave")
    if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii() or not cursor.isprintable():
        raise refused
    try:
        at = parse_time(cursor.partition("|")[0])
    except (ValueError, OverflowError):
        raise refused from None
    if not 1970 <= at.year <= 9000:
        raise refused
    return at


def _minutes(start: datetime, end: datetime) -> list[str]:
    """Each minute from ``start`` to ``end`` (and one more, for a writer's clock ahead of ours),
    as the key prefix its entries share."""
    first = start.replace(second=0, microsecond=0)
    count = int((end - first).total_seconds() // 60) + 2
    return [str(iso(first + timedelta(minutes=n)))[:MINUTE] for n in range(max(count, 1))]

"""The dashboard's and the API's use cases: list, one message, its timeline, the overview, CSV.

Every function takes the signed-in user and reads only that user's data: another user's
message is UnknownMessage, exactly like a message that does not exist. Reads come from the
summaries and day counters the stores keep as events arrive (mailbeacon.rollup), so a page
costs the same for a user with ten messages or a hundred thousand.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from . import localtime, words
from .clock import iso
from .errors import FieldError, InvalidInput
from .json_input import read_json
from .model import Event
from .overview import MAX_OVERVIEW_DAYS, _instant, reader, summarise
from .queries import SORTS, EventKey, MessageQuery
from .rollup import STATUSES, MessageRow, Summary
from .store import MessageReports, ReportingStore
from .summary import message_stats
from .tracking import owned_message

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
EVENTS_PAGE = 100
__all__ = ["MAX_OVERVIEW_DAYS", "domain_overview", "list_messages", "message_detail", "overview"]
MAX_QUERY_CHARS = 200
MAX_CURSOR_CHARS = 400
"""Ours are under 150 characters."""


# cursors: opaque to callers, checked on the way back in
def _encode(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> Any:
    """A cursor we encoded: a flat list or object of plain values (else it was not ours)."""
    refused = InvalidInput("cursor is not one this server handed out")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = read_json(raw, what="the cursor", max_depth=1)
    except (binascii.Error, ValueError, InvalidInput) as exc:
        raise refused from exc
    values = value.values() if isinstance(value, dict) else value
    if isinstance(value, list | dict) and all(_plain(v) for v in values):
        return value
    raise refused


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _time(name: str, value: str | None) -> datetime | None:
    return _instant(name, value)


def _limit(value: str | None, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except ValueError as exc:
        raise FieldError("limit", f"must be a whole number, got {value[:20]!r}") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise FieldError("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def parse_message_query(
    args: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT
) -> MessageQuery:
    """The list's filters from request parameters; InvalidInput names the bad one."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise FieldError("status", f"must be one of {', '.join(STATUSES)}")
    sort = args.get("sort") or "newest"
    if sort not in SORTS:
        raise FieldError("sort", f"must be one of {', '.join(SORTS)}")
    q = (args.get("q") or "").strip() or None
    if q is not None and len(q) > MAX_QUERY_CHARS:
        raise FieldError("q", f"is longer than {MAX_QUERY_CHARS} characters")
    since, until = _time("since", args.get("since")), _time("until", args.get("until"))
    if since and until and since >= until:
        raise FieldError("since", "must be before the end of the period")
    after = None
    if args.get("cursor"):
        decoded = _decode(args["cursor"])
        if (
            not isinstance(decoded, dict)
            or decoded.get("s") != sort
            or not isinstance(decoded.get("k"), str)
            or not isinstance(decoded.get("i"), str)
        ):
            raise InvalidInput("cursor does not belong to this listing (sort changed?)")
        if decoded["k"] or sort != "activity":  # "" is the activity key of untouched messages
            _time("cursor", decoded["k"])
        after = (decoded["k"], decoded["i"])
    return MessageQuery(
        status=status,
        q=q,
        since=since,
        until=until,
        sort=sort,
        limit=_limit(args.get("limit"), default_limit),
        after=after,
    )


def list_messages(
    store: ReportingStore, owner: str, query: MessageQuery
) -> tuple[list[MessageRow], str | None]:
    """One page of the owner's messages and the cursor of the next page (None at the end)."""
    page = store.query_messages(owner.lower(), query)
    if page.next_after is None:
        return page.rows, None
    key, last_id = page.next_after
    return page.rows, _encode({"s": query.sort, "k": key, "i": last_id})


def row_public(row: MessageRow) -> dict[str, Any]:
    """A message as the list API shows it."""
    m, s = row.message, row.summary
    counts = s.public_counts()
    return {
        "message_id": m.id,
        "subject": m.subject,
        "recipients": list(m.recipients),
        "created_at": iso(m.created_at),
        "sent_at": iso(m.sent_at),
        "status": s.status,
        "opens": counts["opens"],
        "clicks": counts["clicks"],
        "replies": counts["replies"],
        "last_activity_at": iso(s.last_activity_at),
    }


def _event_public(event: Event) -> dict[str, Any]:
    """An event for the API and the pages: its codes, and the client named in words (the
    user agent itself is not shown); its id lets a live page recognise an event it already
    shows."""
    return {
        "id": event.id,
        **event.to_public(),
        "link_index": event.link_index,
        "client_name": words.client(event.client, event.user_agent),
    }


def _events_page(
    store: ReportingStore, message_id: str, before: EventKey | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    events = store.list_events_page(message_id, before=before, limit=limit + 1)
    page, more = events[:limit], len(events) > limit
    cursor = _encode([iso_us(page[-1].at), page[-1].id]) if more and page else None
    return [_event_public(e) for e in page], cursor


def iso_us(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def message_detail(
    store: MessageReports, owner: str | None, message_id: str, *, limit: int = EVENTS_PAGE
) -> dict[str, Any]:
    """The `stats --json` object, with counts from the summary and only the newest events."""
    message = owned_message(store, message_id, owner)
    summary = store.get_summary(message_id) or Summary()
    events, cursor = _events_page(store, message_id, None, limit)
    return {
        **message_stats(message, summary, ()),
        "events": events,
        "events_next_cursor": cursor,
    }


def parse_event_cursor(cursor: str | None) -> EventKey | None:
    if not cursor:
        return None
    decoded = _decode(cursor)
    if not (
        isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(x, str) for x in decoded)
    ):
        raise InvalidInput("cursor is not one this server handed out")
    at = _time("cursor", decoded[0])
    assert at is not None
    return EventKey(at, decoded[1])


def events_page(
    store: MessageReports, owner: str | None, message_id: str, args: Mapping[str, str]
) -> dict[str, Any]:
    """A further page of a message's timeline, newest first."""
    owned_message(store, message_id, owner)
    before = parse_event_cursor(args.get("cursor"))
    events, cursor = _events_page(store, message_id, before, _limit(args.get("limit"), EVENTS_PAGE))
    return {"message_id": message_id, "events": events, "next_cursor": cursor}


def all_events(store: MessageReports, owner: str, message_id: str) -> Iterator[Event]:
    """Every event of a message, newest first, a page at a time (for CSV)."""
    owned_message(store, message_id, owner)
    before: EventKey | None = None
    while True:
        page = store.list_events_page(message_id, before=before, limit=500)
        yield from page
        if len(page) < 500:
            return
        before = EventKey(page[-1].at, page[-1].id)


def all_messages(store: ReportingStore, owner: str, query: MessageQuery) -> Iterator[MessageRow]:
    """Every message matching the filters (for CSV), a page at a time."""
    query = replace(query, limit=MAX_LIMIT)
    while True:
        page = store.query_messages(owner.lower(), query)
        yield from page.rows
        if page.next_after is None:
            return
        query = replace(query, after=page.next_after)


MESSAGE_CSV_HEADER = words.MESSAGE_CSV
EVENT_CSV_HEADER = words.EVENT_CSV


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def message_csv_row(row: MessageRow, tz: str = "UTC") -> list[str]:
    """One email as a CSV line: its figures (from the summary), times in UTC and in ``tz``."""
    p = row_public(row)
    sent = row.message.reference_time
    return [
        _cell(v)
        for v in (
            p["message_id"], p["subject"], " ".join(p["recipients"]), p["created_at"],
            p["sent_at"], words.status(p["status"]), p["opens"]["human"],
            p["opens"]["unique_human"], p["opens"]["machine"], p["clicks"]["human"],
            p["clicks"]["machine"], p["last_activity_at"], localtime.stamp(sent, tz),
            localtime.stamp(row.summary.last_activity_at, tz), p["replies"]["human"],
            p["replies"]["machine"], p["replies"]["first_replied_at"],
        )
    ]  # fmt: skip


def event_csv_row(event: Event, tz: str = "UTC") -> list[str]:
    """One hit as a CSV line, in words (codes in the last two columns)."""
    return [
        _cell(v)
        for v in (
            iso(event.at), localtime.stamp(event.at, tz), words.KIND.get(event.kind, event.kind),
            words.verdict(event.verdict.value), words.reasons(event.reasons),
            words.client(event.client, event.user_agent), event.url, event.link_index,
            event.verdict.value, " ".join(event.reasons),
        )
    ]  # fmt: skip


def overview(
    store: ReportingStore, owner: str, args: Mapping[str, str], now: datetime, tz: str = "UTC"
) -> dict[str, Any]:
    """Engagement over a period (default: the last 30 days) in zone ``tz``, from the daily
    counters."""
    return summarise(reader(store.day_counts, [owner]), args, now, tz)


def domain_overview(
    store: ReportingStore,
    senders: Sequence[str],
    domain: str,
    args: Mapping[str, str],
    now: datetime,
    tz: str = "UTC",
) -> dict[str, Any]:
    """The overview's counts summed over everyone in a domain, for its admins: numbers only,
    never a subject, a recipient or whose mail it was."""
    found = summarise(reader(store.day_counts, list(senders)), args, now, tz)
    return {"domain": domain, "senders": len(senders), **found}

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .clock import iso, parse_time
from .errors import InvalidInput
from .model import Event, Verdict
from .queries import SORTS, EventKey, MessageQuery
from .rollup import STATUSES, MessageRow, Summary, ttfo_seconds
from .store import MessageReports, ReportingStore
from .summary import message_stats
from .tracking import owned_message

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
EVENTS_PAGE = 100
MAX_OVERVIEW_DAYS = 400
DEFAULT_OVERVIEW_DAYS = 30
MAX_QUERY_CHARS = 200


# cursors: opaque to callers, checked on the way back in
def _encode(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server handed out") from exc


def _time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        at = parse_time(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an ISO 8601 time, got {value[:40]!r}") from exc
    if not 1970 <= at.year <= 9000:
        raise InvalidInput(f"{name} must be between the years 1970 and 9000")
    return at


def _limit(value: str | None, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except ValueError as exc:
        raise InvalidInput(f"limit must be a whole number, got {value[:20]!r}") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_message_query(
    args: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT
) -> MessageQuery:
    """The list's filters from request parameters; InvalidInput names the bad one."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    sort = args.get("sort") or "newest"
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    q = (args.get("q") or "").strip() or None
    if q is not None and len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q is longer than {MAX_QUERY_CHARS} characters")
    since, until = _time("since", args.get("since")), _time("until", args.get("until"))
    if since and until and since >= until:
        raise InvalidInput("since must be before until")
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
        "last_activity_at": iso(s.last_activity_at),
    }


def _event_public(event: Event) -> dict[str, Any]:
    return {**event.to_public(), "link_index": event.link_index}


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
    try:
        return EventKey(parse_time(decoded[0]), decoded[1])
    except ValueError as exc:
        raise InvalidInput("cursor is not one this server handed out") from exc


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


MESSAGE_CSV_HEADER = (
    "message_id", "subject", "recipients", "created_at", "sent_at", "status", "human_opens",
    "unique_human_opens", "machine_opens", "human_clicks", "machine_clicks", "last_activity_at",
)  # fmt: skip
EVENT_CSV_HEADER = ("at", "kind", "verdict", "reasons", "client", "url", "link_index")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def message_csv_row(row: MessageRow) -> list[str]:
    p = row_public(row)
    return [
        _cell(v)
        for v in (
            p["message_id"], p["subject"], " ".join(p["recipients"]), p["created_at"],
            p["sent_at"], p["status"], p["opens"]["human"], p["opens"]["unique_human"],
            p["opens"]["machine"], p["clicks"]["human"], p["clicks"]["machine"],
            p["last_activity_at"],
        )
    ]  # fmt: skip


def event_csv_row(event: Event) -> list[str]:
    p = _event_public(event)
    return [
        _cell(v)
        for v in (
            p["at"],
            p["kind"],
            p["verdict"],
            " ".join(p["reasons"]),
            p["client"],
            p["url"],
            p["link_index"],
        )
    ]


def overview(
    store: ReportingStore, owner: str, args: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """Engagement over a period (default: the last 30 days), from the daily counters."""
    return _overview(lambda first, last: store.day_counts(owner.lower(), first, last), args, now)


def domain_overview(
    store: ReportingStore,
    senders: Sequence[str],
    domain: str,
    args: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    """The overview's counts summed over everyone in a domain, for its admins: numbers only,
    never a subject, a recipient or whose mail it was."""

    def days(first: str, last: str) -> dict[str, dict[str, int]]:
        merged: dict[str, dict[str, int]] = {}
        for sender in senders:
            for day, counts in store.day_counts(sender, first, last).items():
                into = merged.setdefault(day, {})
                for name, n in counts.items():
                    into[name] = into.get(name, 0) + n
        return merged

    return {"domain": domain, "senders": len(senders), **_overview(days, args, now)}


def _overview(
    day_counts: Callable[[str, str], dict[str, dict[str, int]]],
    args: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    until = _time("until", args.get("until")) or now
    since = _time("since", args.get("since")) or until - timedelta(days=DEFAULT_OVERVIEW_DAYS)
    if since >= until:
        raise InvalidInput("since must be before until")
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    span = (last - first).days + 1
    if span > MAX_OVERVIEW_DAYS:
        raise InvalidInput(f"a period of at most {MAX_OVERVIEW_DAYS} days")
    days = day_counts(first.isoformat(), last.isoformat())
    total: dict[str, int] = {}
    by_day = []
    hours = [[0] * 24 for _ in range(7)]
    for offset in range(span):  # one pass over every counter: this is the overview's cost
        day = first + timedelta(days=offset)
        counts = days.get(day.isoformat(), {})
        by_day.append(
            {
                "date": day.isoformat(),
                "human_opens": counts.get("human_opens", 0),
                "machine_hits": counts.get("machine_hits", 0),
                "clicks": counts.get("clicks", 0),
            }
        )
        row = hours[day.weekday()]
        for name, n in counts.items():
            total[name] = total.get(name, 0) + n
            if name[:5] == "hour:":
                row[int(name[5:])] += n
    messages, opened = total.get("messages", 0), total.get("opened", 0)
    return {
        "since": iso(since),
        "until": iso(until),
        "messages": messages,
        "opened": opened,
        "open_rate": round(opened / messages, 4) if messages else 0.0,
        "clicked": total.get("clicked", 0),
        "human_opens": total.get("human_opens", 0),
        "clicks": total.get("clicks", 0),
        "machine_hits": {
            "total": total.get("machine_hits", 0),
            "by_verdict": {
                v.value: total.get(f"verdict:{v.value}", 0)
                for v in Verdict
                if v is not Verdict.HUMAN
            },
        },
        "by_day": by_day,
        "time_to_first_open_s": _percentiles(total),
        "opens_by_hour_of_week": hours,
        "clients": dict(
            sorted(
                ((k[7:], n) for k, n in total.items() if k.startswith("client:")),
                key=lambda kv: (-kv[1], kv[0]),
            )
        ),
    }


def _percentiles(total: Mapping[str, int]) -> dict[str, float | None]:
    """p50 and p90 of time to first open, from log-spaced buckets (within about 10%)."""
    buckets = sorted((int(k[5:]), n) for k, n in total.items() if k.startswith("ttfo:"))
    count = sum(n for _, n in buckets)
    result: dict[str, float | None] = {"p50": None, "p90": None}
    for name, share in (("p50", 0.5), ("p90", 0.9)):
        if not count:
            continue
        seen = 0
        for bucket, n in buckets:
            seen += n
            if seen >= share * count:
                result[name] = round(ttfo_seconds(bucket), 1)
                break
    return result

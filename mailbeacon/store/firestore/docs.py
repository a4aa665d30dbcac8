"""How Mailbeacon's model maps to Firestore documents: ids, times, events and messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from ...model import Event, Link, Message, Verdict
from ...queries import time_key
from ...rollup import STATUS_ORDER, Summary, rank


def doc_id(value: str) -> str:
    """A Firestore document id for any string: no '/', never '.' or '..' or '__x__'."""
    return quote(value, safe="@+-_~").replace(".", "%2E") or "%00"


def from_doc_id(value: str) -> str:
    """The string a document id was made from (``doc_id`` reversed)."""
    return unquote(value)


def to_time(value: Any) -> datetime | None:
    """Firestore's DatetimeWithNanoseconds as a plain aware datetime (microseconds)."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, UTC)


def event_data(event: Event) -> dict[str, Any]:
    """An event as its document (also the shape of its entry in the message's recent map)."""
    return {
        "message_id": event.message_id,
        "kind": event.kind,
        "at": event.at,
        "verdict": event.verdict.value,
        "reasons": list(event.reasons),
        "client": event.client,
        "link_index": event.link_index,
        "url": event.url,
        "ip_hash": event.ip_hash,
        "network": event.network,
        "user_agent": event.user_agent,
        "expires_at": event.expires_at,
    }


def event_from(event_id: str, d: dict[str, Any]) -> Event:
    """An Event from its document."""
    return Event(
        id=event_id,
        message_id=d["message_id"],
        kind=d["kind"],
        at=to_time(d["at"]),  # type: ignore[arg-type]
        verdict=Verdict(d["verdict"]),
        reasons=tuple(d.get("reasons") or ()),
        client=d.get("client") or "other",
        link_index=d.get("link_index"),
        url=d.get("url"),
        ip_hash=d.get("ip_hash") or "",
        network=d.get("network") or "",
        user_agent=d.get("user_agent") or "",
        expires_at=to_time(d.get("expires_at")),
    )


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``."""
    if not prefix or ord(prefix[-1]) >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def message_from(message_id: str, d: dict[str, Any]) -> Message:
    """A Message from its document's fields."""
    return Message(
        id=message_id,
        owner=d["owner"],
        recipients=tuple(d.get("recipients") or ()),
        subject=d.get("subject") or "",
        created_at=to_time(d["created_at"]),  # type: ignore[arg-type]
        sent_at=to_time(d.get("sent_at")),
        links=tuple(Link(int(x["index"]), x["url"]) for x in d.get("links") or ()),
    )


def summary_fields(summary: Summary) -> dict[str, Any]:
    """What a message document keeps of its summary: the summary itself, and the fields the
    list filters and orders by (Firestore cannot filter on "at least opened": one boolean per
    status above sent, each with its own index)."""
    level = rank(summary.status)
    return {
        "summary": summary.to_dict(),
        "status": summary.status,
        "activity": time_key(summary.last_activity_at),
        **{f"reached_{s}": level >= i for i, s in enumerate(STATUS_ORDER) if i},
    }

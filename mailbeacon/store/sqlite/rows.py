"""How Mailbeacon's model maps to SQLite rows: times as ISO text in UTC, lists as JSON."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from ...model import Event, Link, Message, Verdict


def ts(at: datetime) -> str:
    """A time as stored: UTC ISO 8601 to the microsecond, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def message_row(row: sqlite3.Row | tuple[Any, ...], links: tuple[Link, ...] = ()) -> Message:
    """A Message from the first six columns of ``messages`` (links are their own table)."""
    return Message(
        id=row[0],
        owner=row[1],
        recipients=tuple(json.loads(row[2])),
        subject=row[3],
        created_at=dt(row[4]),  # type: ignore[arg-type]
        sent_at=dt(row[5]),
        links=links,
    )


def event_row(r: sqlite3.Row | tuple[Any, ...]) -> Event:
    """An Event from a row of ``events``."""
    return Event(
        id=r[0],
        message_id=r[1],
        kind=r[2],
        at=dt(r[3]),  # type: ignore[arg-type]
        verdict=Verdict(r[4]),
        reasons=tuple(json.loads(r[5])),
        client=r[6],
        link_index=r[7],
        url=r[8],
        ip_hash=r[9],
        network=r[10],
        user_agent=r[11],
        expires_at=dt(r[12]),
    )


def event_values(event: Event) -> tuple[Any, ...]:
    """An event as the values of its ``events`` row."""
    return (
        event.id,
        event.message_id,
        event.kind,
        ts(event.at),
        event.verdict.value,
        json.dumps(list(event.reasons)),
        event.client,
        event.link_index,
        event.url,
        event.ip_hash,
        event.network,
        event.user_agent,
        ts(event.expires_at) if event.expires_at else None,
    )

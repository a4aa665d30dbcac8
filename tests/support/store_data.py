"""Messages and events for the store's contract suites and the tests beside them: fresh ids
and owners every call, so tests never collide on a shared emulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mailbeacon.model import Event, Link, Message, Verdict
from mailbeacon.tokens import new_message_id

T0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=9, minute=0, second=0, microsecond=0)
"""Ten days ago at 09:00 UTC: well inside the events' retention, and a test's events hours
after it fall on its day (at the time of day the suite runs, a test run after 22:00 UTC
counted an open two hours after T0 on the next day)."""
NOW = datetime.now(UTC).replace(microsecond=0)


def owner() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}@example.com"


def domain() -> str:
    """A fresh domain, so tests never share policies on the emulator."""
    return f"d{uuid.uuid4().hex[:8]}.test"


def message(
    who: str, *, at: datetime = T0, links: tuple[Link, ...] = (), sent_at: datetime | None = None
) -> Message:
    return Message(
        id=new_message_id(),
        owner=who,
        recipients=("a@example.org", "b@example.org"),
        subject="Quarterly numbers",
        created_at=at,
        sent_at=sent_at,
        links=links,
    )


def event(message_id: str, at: datetime, *, verdict: Verdict = Verdict.HUMAN, **kw: Any) -> Event:
    """A Gmail-proxy open (or ``kind="click"``) that expires 180 days after ``at``."""
    return Event(
        id=kw.pop("id", uuid.uuid4().hex),
        message_id=message_id,
        kind=kw.pop("kind", "open"),
        at=at,
        verdict=verdict,
        reasons=("gmail-image-proxy",),
        client="gmail",
        ip_hash=kw.pop("ip_hash", "abc"),
        network="203.0.113.0/24",
        user_agent=kw.pop("user_agent", "UA"),
        expires_at=kw.pop("expires_at", at + timedelta(days=180)),
        **kw,
    )


def aged_message(owner: str, *, days_ago: int = 50) -> Message:
    """A message created ``days_ago`` days before NOW, with one link."""
    return Message(
        id=new_message_id(),
        owner=owner,
        recipients=("bo@example.org",),
        subject="Plan",
        created_at=NOW - timedelta(days=days_ago),
        links=(Link(1, "https://example.com/a"),),
    )


def aged_event(message_id: str, days_ago: float) -> Event:
    """A human open ``days_ago`` days before NOW (expiring 180 days after it)."""
    at = NOW - timedelta(days=days_ago)
    return Event(
        uuid.uuid4().hex, message_id, "open", at, Verdict.HUMAN, ("r",), "gmail",
        ip_hash="h", network="203.0.113.0/24", user_agent="UA", expires_at=at + timedelta(days=180),
    )  # fmt: skip

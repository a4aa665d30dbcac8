"""Summaries and day counters kept inside the write that stores an event (see mailbeacon.rollup).

Used by the pipeline (each stored event), messages (a new message counts on its day),
housekeeping (summaries rebuilt from what a purge left) and migration 2's backfill.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence

from ...model import Event, Message
from ...queries import time_key
from ...rollup import (
    DayCounts,
    Summary,
    apply_event,
    merge_days,
    message_added,
    rank,
    relabel_event,
)
from .rows import dt, event_row, event_values, message_row


def insert_event(conn: sqlite3.Connection, event: Event, relabel: Sequence[Event] = ()) -> bool:
    """Store an event once and count it into its summary and day counters; relabel the
    earlier events hindsight changed, in the same transaction."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        event_values(event),
    )
    added = cursor.rowcount == 1
    Rollups(conn).stored(event if added else None, relabel)
    return added


def _device(event: Event) -> str:
    return hashlib.sha256(event.device.encode()).hexdigest()[:32]


class Rollups:
    """Summary and day-counter upkeep inside a write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def message_added(self, message: Message) -> None:
        self._add_days(message.owner, message_added(message))

    def resummarise(self, message_ids: set[str]) -> None:
        """Rebuild the summaries of messages whose events were purged from what remains, so
        the list, the API and the overview never count events retention removed."""
        for message_id in sorted(message_ids):
            self.conn.execute("DELETE FROM human_devices WHERE message_id = ?", (message_id,))
            self.conn.execute(
                "UPDATE messages SET status = 'sent', rank = 0, activity = '', summary = '{}'"
                " WHERE id = ?",
                (message_id,),
            )
            rows = self.conn.execute(
                "SELECT * FROM events WHERE message_id = ? ORDER BY at, id", (message_id,)
            ).fetchall()
            for row in rows:
                self.event_added(event_row(row), days=False)

    def _summary(self, message_id: str) -> tuple[Message, Summary] | None:
        row = self.conn.execute(
            "SELECT id, owner, recipients, subject, created_at, sent_at, summary "
            "FROM messages WHERE id = ?",
            (message_id,),
        ).fetchone()
        if row is None:
            return None
        return message_row(row), Summary.from_dict(json.loads(row[6]))

    def _save(self, message: Message, after: Summary) -> None:
        self.conn.execute(
            "UPDATE messages SET status = ?, rank = ?, activity = ?, summary = ? WHERE id = ?",
            (
                after.status,
                rank(after.status),
                time_key(after.last_activity_at),
                json.dumps(after.to_dict()),
                message.id,
            ),
        )

    def stored(self, event: Event | None, relabel: Sequence[Event]) -> None:
        """Count a newly stored event in (None: nothing new) and relabel the earlier events
        hindsight changed: each message's summary read and saved once, its owner's day
        counters moved once."""
        touched: dict[str, tuple[Message, Summary, DayCounts] | None] = {}

        def summary_of(message_id: str) -> tuple[Message, Summary, DayCounts] | None:
            if message_id not in touched:
                found = self._summary(message_id)
                touched[message_id] = None if found is None else (*found, {})
            return touched[message_id]

        if event is not None and (state := summary_of(event.message_id)) is not None:
            message, before, days = state
            after, moved = self._apply(message, before, event)
            touched[message.id] = (message, after, merge_days(days, moved))
        for new in relabel:
            row = self.conn.execute("SELECT * FROM events WHERE id = ?", (new.id,)).fetchone()
            if row is None:
                continue
            old = event_row(row)
            if not old.is_human or new.is_human:
                continue  # relabelled before (a redelivery): nothing moves twice
            if (state := summary_of(new.message_id)) is None:
                continue
            message, before, days = state
            after, moved = self._relabel(message, before, old, new)
            touched[message.id] = (message, after, merge_days(days, moved))
        for state in touched.values():
            if state is not None:
                message, after, days = state
                self._save(message, after)
                self._add_days(message.owner, days)

    def event_added(self, event: Event, *, days: bool = True) -> None:
        found = self._summary(event.message_id)
        if found is None:
            return
        message, before = found
        after, moved = self._apply(message, before, event)
        self._save(message, after)
        if days:
            self._add_days(message.owner, moved)

    def _apply(self, message: Message, before: Summary, event: Event) -> tuple[Summary, DayCounts]:
        new_device = False
        if event.is_human and event.kind == "open":
            new_device = (
                self.conn.execute(
                    "INSERT OR IGNORE INTO human_devices VALUES (?, ?)",
                    (event.message_id, _device(event)),
                ).rowcount
                == 1
            )
        return apply_event(message, before, event, new_device=new_device)

    def _relabel(
        self, message: Message, before: Summary, old: Event, new: Event
    ) -> tuple[Summary, DayCounts]:
        """A stored human event as hindsight sees it now: its row, and the summary after."""
        self.conn.execute(
            "UPDATE events SET verdict = ?, reasons = ? WHERE id = ?",
            (new.verdict.value, json.dumps(list(new.reasons)), new.id),
        )
        first, last = self.conn.execute(
            "SELECT MIN(at), MAX(at) FROM events WHERE message_id = ? AND verdict = 'human'",
            (message.id,),
        ).fetchone()
        device_gone = False
        if old.kind == "open":
            day = old.at.date().isoformat()
            others = self.conn.execute(
                "SELECT 1 FROM events WHERE message_id = ? AND verdict = 'human' AND kind = 'open'"
                " AND ip_hash = ? AND user_agent = ? AND substr(at, 1, 10) = ? LIMIT 1",
                (message.id, old.ip_hash, old.user_agent, day),
            ).fetchone()
            device_gone = others is None
            if device_gone:
                self.conn.execute(
                    "DELETE FROM human_devices WHERE message_id = ? AND device = ?",
                    (message.id, _device(old)),
                )
        return relabel_event(
            message, before, old, new, first=dt(first), last=dt(last), device_gone=device_gone
        )

    def add_days(self, owner: str, days: DayCounts, *, sign: int = 1) -> None:
        """Add ``days`` (``sign`` -1: take them out) to the owner's counters."""
        self._add_days(owner, merge_days({}, days, sign))

    def _add_days(self, owner: str, days: DayCounts) -> None:
        for day, counts in days.items():
            row = self.conn.execute(
                "SELECT counts FROM day_counts WHERE owner = ? AND day = ?", (owner, day)
            ).fetchone()
            merged = merge_days({day: json.loads(row[0])} if row else {}, {day: counts})
            if day not in merged:
                self.conn.execute(
                    "DELETE FROM day_counts WHERE owner = ? AND day = ?", (owner, day)
                )
                continue
            self.conn.execute(
                "INSERT INTO day_counts VALUES (?, ?, ?) "
                "ON CONFLICT (owner, day) DO UPDATE SET counts = excluded.counts",
                (owner, day, json.dumps(merged[day])),
            )

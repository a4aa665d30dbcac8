"""Summaries and day counters kept inside the write that stores an event (see mailbeacon.rollup).

Used by the pipeline (each stored event), messages (a new message counts on its day),
housekeeping (summaries rebuilt from what a purge left) and migration 2's backfill.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

from ...model import Event, Message
from ...queries import time_key
from ...rollup import DayCounts, Summary, apply_event, message_added
from .rows import event_row, event_values, message_row


def insert_event(conn: sqlite3.Connection, event: Event) -> bool:
    """Store an event once and count it into its summary and day counters."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        event_values(event),
    )
    if cursor.rowcount != 1:
        return False
    Rollups(conn).event_added(event)
    return True


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
                "UPDATE messages SET status = 'sent', activity = '', summary = '{}' WHERE id = ?",
                (message_id,),
            )
            rows = self.conn.execute(
                "SELECT * FROM events WHERE message_id = ? ORDER BY at, id", (message_id,)
            ).fetchall()
            for row in rows:
                self.event_added(event_row(row), days=False)

    def event_added(self, event: Event, *, days: bool = True) -> None:
        row = self.conn.execute(
            "SELECT id, owner, recipients, subject, created_at, sent_at, summary "
            "FROM messages WHERE id = ?",
            (event.message_id,),
        ).fetchone()
        if row is None:
            return
        message = message_row(row)
        before = Summary.from_dict(json.loads(row[6]))
        new_device = False
        if event.is_human and event.kind == "open":
            device = hashlib.sha256(event.device.encode()).hexdigest()[:32]
            new_device = (
                self.conn.execute(
                    "INSERT OR IGNORE INTO human_devices VALUES (?, ?)", (event.message_id, device)
                ).rowcount
                == 1
            )
        after, found = apply_event(message, before, event, new_device=new_device)
        self.conn.execute(
            "UPDATE messages SET status = ?, activity = ?, summary = ? WHERE id = ?",
            (
                after.status,
                time_key(after.last_activity_at),
                json.dumps(after.to_dict()),
                message.id,
            ),
        )
        if days:
            self._add_days(message.owner, found)

    def _add_days(self, owner: str, days: DayCounts) -> None:
        for day, counts in days.items():
            row = self.conn.execute(
                "SELECT counts FROM day_counts WHERE owner = ? AND day = ?", (owner, day)
            ).fetchone()
            merged = json.loads(row[0]) if row else {}
            for name, n in counts.items():
                merged[name] = merged.get(name, 0) + n
            self.conn.execute(
                "INSERT INTO day_counts VALUES (?, ?, ?) "
                "ON CONFLICT (owner, day) DO UPDATE SET counts = excluded.counts",
                (owner, day, json.dumps(merged)),
            )

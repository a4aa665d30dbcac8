"""The PipelineStore port on SQLite: events (counted as they are stored) and self views."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ... import live
from ...clock import Clock, SystemClock
from ...model import Event, MessageContext, Strictness
from ..ports import MessageStore, SettingsStore, assemble_context
from .database import Database
from .records import SqliteRecords
from .rollups import insert_event
from .rows import dt, event_row, ts


class SqlitePipeline:
    """Reads are cheap here, so the classification context is assembled from the finer reads
    (the message and the owner's settings come from their own parts)."""

    def __init__(
        self,
        db: Database,
        messages: MessageStore,
        settings: SettingsStore,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.messages = messages
        self.settings = settings
        self.clock = clock or SystemClock()

    def get_context(self, message_id: str) -> MessageContext | None:
        return assemble_context(self.messages, self, message_id)

    def owner_strictness(self, owner: str) -> Strictness:
        return self.settings.get_settings(owner).strictness

    def add_event(
        self, event: Event, relabel: Sequence[Event] = (), *, live_at: datetime | None = None
    ) -> bool:
        with self.db.write() as conn:
            added = insert_event(conn, event, relabel)
        message = self.messages.get_message(event.message_id) if live_at and added else None
        if message is not None and live_at is not None:
            live.append_quietly(SqliteRecords(self.db), message, event, live_at)
        return added

    def add_events(self, events: list[Event]) -> int:
        """Many events in one transaction (imports, the bench); returns how many were new."""
        with self.db.write() as conn:
            return sum(insert_event(conn, event) for event in events)

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        rows = self.db.read(
            "SELECT * FROM events WHERE message_id = ? AND (expires_at IS NULL OR expires_at > ?) "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (message_id, ts(self.clock.now()), -1 if limit is None else limit),
        )
        rows.reverse()
        return [event_row(r) for r in rows]

    def add_self_view(self, message_id: str, at: datetime) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT INTO self_views VALUES (?, ?)", (message_id, ts(at)))

    def list_self_views(self, message_id: str) -> list[datetime]:
        rows = self.db.read(
            "SELECT at FROM self_views WHERE message_id = ? ORDER BY at", (message_id,)
        )
        return [dt(r[0]) for r in rows]  # type: ignore[misc]

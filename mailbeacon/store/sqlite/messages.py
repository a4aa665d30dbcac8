"""The MessageStore port on SQLite: tracked messages and their links."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ...errors import UnknownMessage
from ...model import Link, Message
from ...queries import search_text
from . import search
from .database import Database
from .rollups import Rollups
from .rows import message_row, ts


class SqliteMessages:
    """Messages in ``messages`` (with the search text the dashboard's filter matches and the
    time the list shows and orders by: sent, else tracked, and its postings in search_grams),
    links in ``links``; a new message counts on its owner's day (day_counts)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_message(self, message: Message) -> None:
        with self.db.write() as conn:
            text = search_text(message.subject, message.recipients)
            ((seq,),) = conn.execute(
                "INSERT INTO messages (id, owner, recipients, subject, created_at, sent_at, search,"
                f" sent, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {search.NEXT_SEQ}) RETURNING seq",
                (
                    message.id,
                    message.owner,
                    json.dumps(list(message.recipients)),
                    message.subject,
                    ts(message.created_at),
                    ts(message.sent_at) if message.sent_at else None,
                    text,
                    ts(message.reference_time),
                ),
            ).fetchall()
            search.index(conn, seq, text)
            conn.executemany(
                "INSERT INTO links VALUES (?, ?, ?)",
                [(message.id, link.index, link.url) for link in message.links],
            )
            Rollups(conn).message_added(message)

    def _message(self, row: sqlite3.Row | tuple[Any, ...]) -> Message:
        links = self.db.read(
            "SELECT idx, url FROM links WHERE message_id = ? ORDER BY idx", (row[0],)
        )
        return message_row(row, tuple(Link(i, url) for i, url in links))

    def get_message(self, message_id: str) -> Message | None:
        rows = self.db.read("SELECT * FROM messages WHERE id = ?", (message_id,))
        return self._message(rows[0]) if rows else None

    def add_link(self, message_id: str, url: str) -> Link:
        with self.db.write() as conn:
            if not conn.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone():
                raise UnknownMessage(f"no tracked message {message_id!r}")
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM links WHERE message_id = ?", (message_id,)
            ).fetchone()
            conn.execute("INSERT INTO links VALUES (?, ?, ?)", (message_id, last + 1, url))
        return Link(last + 1, url)

    def mark_sent(self, message_id: str, at: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE messages SET sent_at = ?, sent = ? WHERE id = ? AND sent_at IS NULL",
                (ts(at), ts(at), message_id),
            )

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        with self.db.write() as conn:
            query = "SELECT subject, search, seq FROM messages WHERE id = ?"
            row = conn.execute(query, (message_id,)).fetchone()
            if row is None:
                return
            text = search_text(row[0], recipients)
            conn.execute(
                "UPDATE messages SET sent_at = ?, sent = ?, recipients = ?, search = ?"
                " WHERE id = ?",
                (
                    ts(sent_at),
                    ts(sent_at),
                    json.dumps(list(recipients)),
                    text,
                    message_id,
                ),
            )
            search.index(conn, row[2], text, old=row[1])

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        rows = self.db.read(
            "SELECT * FROM messages WHERE owner = ? AND created_at < ? "
            "ORDER BY created_at DESC, id LIMIT ?",
            (owner.lower(), ts(before) if before else "9999", limit),
        )
        return [self._message(row) for row in rows]

"""The ReportingStore port on SQLite: the dashboard's reads, from indexes and kept summaries."""

from __future__ import annotations

import json
from typing import Any

from ...clock import Clock, SystemClock
from ...model import Event
from ...queries import EventKey, MessageQuery
from ...rollup import MessagePage, MessageRow, Summary, page_of, rank
from . import search
from .database import Database
from .days import ParsedDays
from .rows import event_row, message_row, ts


class SqliteReporting:
    """Each read is one indexed query: a page costs the same for ten messages or 100,000
    (a search for a rare term reads the trigram index first: search.py). ``search_cap``: see
    search.CAP."""

    def __init__(
        self, db: Database, clock: Clock | None = None, *, search_cap: int = search.CAP
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.search_cap = search_cap
        self.days = ParsedDays()

    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        where = ["owner = ?"]
        params: list[Any] = [owner.lower()]
        if query.status:
            # A literal, not a parameter: SQLite uses a partial index only for the very term
            # it was made with (messages_rank0..3).
            level = rank(query.status)
            where.append("rank = 0" if query.status == "sent" else f"rank >= {level:d}")
        source = "messages"
        if query.q:
            q = query.q.lower()
            where.append("instr(search, ?) > 0")
            params.append(q)
            # The scan reads only index entries when nothing but the time bounds it; a status
            # or the activity order makes it read each row too, so the index pays sooner.
            plain = not query.status and query.sort != "activity"
            cap = self.search_cap if plain else self.search_cap * search.ROW_COST
            found = search.candidates(self.db, q, cap)
            if found is not None:  # a rare term: the messages holding its rarest grams
                sql, grams = found
                source = f"({sql}) AS c CROSS JOIN messages ON messages.seq = c.seq"
                params = [*grams, *params]
        if query.since:
            where.append("sent >= ?")
            params.append(ts(query.since))
        if query.until:
            where.append("sent < ?")
            params.append(ts(query.until))
        column = "activity" if query.sort == "activity" else "sent"
        direction = "ASC" if query.sort == "oldest" else "DESC"
        if query.after is not None:
            key, last_id = query.after
            op = ">" if direction == "ASC" else "<"
            where.append(f"{column} {op}= ? AND ({column} {op} ? OR id {op} ?)")
            params += [key, key, last_id]
        rows = self.db.read(
            f"SELECT id, owner, recipients, subject, created_at, sent_at, summary FROM {source} "
            f"WHERE {' AND '.join(where)} ORDER BY {column} {direction}, id {direction} LIMIT ?",
            (*params, query.limit + 1),
        )
        return page_of(
            [MessageRow(message_row(r), Summary.from_dict(json.loads(r[6]))) for r in rows], query
        )

    def get_summary(self, message_id: str) -> Summary | None:
        rows = self.db.read("SELECT summary FROM messages WHERE id = ?", (message_id,))
        return Summary.from_dict(json.loads(rows[0][0])) if rows else None

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        sql = "SELECT * FROM events WHERE message_id = ? AND (expires_at IS NULL OR expires_at > ?)"
        params: list[Any] = [message_id, ts(self.clock.now())]
        if before is not None:
            at = ts(before.at)
            sql += " AND at <= ? AND (at < ? OR id < ?)"
            params += [at, at, before.id]
        rows = self.db.read(sql + " ORDER BY at DESC, id DESC LIMIT ?", (*params, limit))
        return [event_row(r) for r in rows]

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        rows = self.db.read(
            "SELECT day, counts FROM day_counts WHERE owner = ? AND day >= ? AND day <= ?",
            (owner.lower(), first, last),
        )
        return {day: self.days.parse(owner.lower(), day, counts) for day, counts in rows}

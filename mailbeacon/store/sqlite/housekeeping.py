"""The Housekeeping port on SQLite: expiry, a domain's retention, a user's deletion.

Deleted rows are zeroed on disk (``secure_delete``), and each purge rebuilds the summaries of
the messages it touched, so no count keeps what retention removed.
"""

from __future__ import annotations

from datetime import datetime

from ...rollup import day_of
from ...summary import contribution
from ..ports import Removed
from . import search
from .database import Database
from .rollups import Rollups
from .rows import event_row, message_row, ts


class SqliteHousekeeping:
    """Each operation is one write transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def purge_expired(self, now: datetime) -> int:
        with self.db.write() as conn:
            touched = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT message_id FROM events WHERE expires_at <= ?", (ts(now),)
                )
            }
            removed = conn.execute("DELETE FROM events WHERE expires_at <= ?", (ts(now),)).rowcount
            Rollups(conn).resummarise(touched)
            return removed

    def purge_domain(self, domain: str, before: datetime) -> int:
        """Events before ``before`` of the domain's senders, their messages' summaries rebuilt,
        and the domain's daily counters of the days before it (the overview's history)."""
        in_domain = "SELECT id FROM messages WHERE substr(owner, instr(owner, '@') + 1) = ?"
        with self.db.write() as conn:
            args = (ts(before), domain.lower())
            touched = {
                r[0]
                for r in conn.execute(
                    f"SELECT DISTINCT message_id FROM events WHERE at < ? AND message_id IN "
                    f"({in_domain})",
                    args,
                )
            }
            removed = conn.execute(
                f"DELETE FROM events WHERE at < ? AND message_id IN ({in_domain})", args
            ).rowcount
            conn.execute(
                "DELETE FROM day_counts WHERE day < ? AND substr(owner, instr(owner, '@') + 1) = ?",
                (day_of(before), domain.lower()),
            )
            Rollups(conn).resummarise(touched)
            return removed

    def delete_user(self, user: str) -> Removed:
        """In one transaction (secure_delete zeroes the freed pages), then a WAL checkpoint so
        no copy of the deleted rows stays in the write-ahead log either."""
        owner = user.lower()
        removed = Removed()
        with self.db.write() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM messages WHERE owner = ?", (owner,))]
            removed.message_ids = sorted(ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                removed.event_ids += [
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM events WHERE message_id IN ({marks})", chunk
                    )
                ]
                for table in ("events", "links", "self_views", "human_devices"):
                    conn.execute(f"DELETE FROM {table} WHERE message_id IN ({marks})", chunk)
                for seq, text in conn.execute(
                    f"SELECT seq, search FROM messages WHERE id IN ({marks})", chunk
                ).fetchall():
                    search.unindex(conn, seq, text)
                conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").fetchone():
                    # the bus's table, when this database has one (hits in the spool are
                    # dropped by the worker: their message no longer exists)
                    removed.pending_hits += conn.execute(
                        "DELETE FROM outbox WHERE json_extract(payload, '$.message_id')"
                        f" IN ({marks})",
                        chunk,
                    ).rowcount
            conn.execute("DELETE FROM day_counts WHERE owner = ?", (owner,))
            removed.settings = conn.execute(
                "DELETE FROM settings WHERE user = ?", (owner,)
            ).rowcount
        self.db.checkpoint()
        removed.event_ids.sort()
        return removed

    def delete_message(self, message_id: str) -> Removed:
        """One transaction: the rows go, the counters lose what the message added."""
        removed = Removed()
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT *, seq, search FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return removed
            message = message_row(row)
            seq, text = row[-2:]
            events = [
                event_row(r)
                for r in conn.execute("SELECT * FROM events WHERE message_id = ?", (message_id,))
            ]
            Rollups(conn).add_days(message.owner, contribution(message, events), sign=-1)
            for table in ("events", "links", "self_views", "human_devices"):
                conn.execute(f"DELETE FROM {table} WHERE message_id = ?", (message_id,))
            search.unindex(conn, seq, text)
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        removed.message_ids = [message_id]
        removed.event_ids = sorted(e.id for e in events)
        return removed

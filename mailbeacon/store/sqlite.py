"""The embedded store: one SQLite file in WAL mode, shared by the server and CLI processes.

Each thread has its own connection; writes take the write lock up front (BEGIN IMMEDIATE) and
wait up to ``busy_timeout`` for it. ``synchronous=NORMAL`` in WAL mode survives a process
crash; ``sync="FULL"`` (MAILBEACON_SQLITE_SYNC) survives power loss too, at some cost per write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import StoreUnavailable, UnknownMessage
from ..model import Event, Link, Message, MessageContext, Settings, Verdict
from . import assemble_context

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE messages (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, recipients TEXT NOT NULL,
        subject TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT);
    CREATE INDEX messages_by_owner ON messages (owner, created_at DESC);
    CREATE TABLE links (
        message_id TEXT NOT NULL REFERENCES messages (id), idx INTEGER NOT NULL,
        url TEXT NOT NULL, PRIMARY KEY (message_id, idx));
    CREATE TABLE events (
        id TEXT PRIMARY KEY, message_id TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
        verdict TEXT NOT NULL, reasons TEXT NOT NULL, client TEXT NOT NULL,
        link_index INTEGER, url TEXT, ip_hash TEXT NOT NULL, network TEXT NOT NULL,
        user_agent TEXT NOT NULL, expires_at TEXT);
    CREATE INDEX events_by_message ON events (message_id, at);
    CREATE INDEX events_by_expiry ON events (expires_at);
    CREATE TABLE self_views (message_id TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX self_views_by_message ON self_views (message_id, at);
    CREATE TABLE settings (user TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE records (
        namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (namespace, key));
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, available_at REAL NOT NULL,
        leased_until REAL NOT NULL DEFAULT 0, last_error TEXT, dead INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX outbox_ready ON outbox (dead, topic, available_at);
    """,
)


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Database:
    """A SQLite file with per-thread connections and versioned migrations."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, sync: str = "NORMAL") -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        # Threads of one process take turns here rather than in SQLite's busy handler, which
        # sleeps in growing steps and turns contention into long tail latencies.
        self._write_lock = threading.Lock()
        self._sync = sync.upper()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self.busy_timeout_ms / 1000,
                )
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {'FULL' if self._sync == 'FULL' else 'NORMAL'}")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; any SQLite failure becomes StoreUnavailable, rolled back."""
        conn = self.connection()
        if not self._write_lock.acquire(timeout=self.busy_timeout_ms / 1000):
            raise StoreUnavailable("database busy: timed out waiting for the write lock")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"database busy: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreUnavailable(f"write failed: {exc}") from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            self._write_lock.release()

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"read failed: {exc}") from exc

    def _migrate(self) -> None:
        with self.write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version, script in enumerate(MIGRATIONS, start=1):
                if version > current:
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class SqliteStore:
    """The Store port on SQLite."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    # messages
    def add_message(self, message: Message) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.owner,
                    json.dumps(list(message.recipients)),
                    message.subject,
                    _ts(message.created_at),
                    _ts(message.sent_at) if message.sent_at else None,
                ),
            )
            conn.executemany(
                "INSERT INTO links VALUES (?, ?, ?)",
                [(message.id, link.index, link.url) for link in message.links],
            )

    def _message(self, row: sqlite3.Row | tuple[Any, ...]) -> Message:
        links = self.db.read(
            "SELECT idx, url FROM links WHERE message_id = ? ORDER BY idx", (row[0],)
        )
        return Message(
            id=row[0],
            owner=row[1],
            recipients=tuple(json.loads(row[2])),
            subject=row[3],
            created_at=_dt(row[4]),  # type: ignore[arg-type]
            sent_at=_dt(row[5]),
            links=tuple(Link(i, url) for i, url in links),
        )

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
                "UPDATE messages SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                (_ts(at), message_id),
            )

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        rows = self.db.read(
            "SELECT * FROM messages WHERE owner = ? AND created_at < ? "
            "ORDER BY created_at DESC, id LIMIT ?",
            (owner.lower(), _ts(before) if before else "9999", limit),
        )
        return [self._message(row) for row in rows]

    # events
    def add_event(self, event: Event) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id,
                    event.message_id,
                    event.kind,
                    _ts(event.at),
                    event.verdict.value,
                    json.dumps(list(event.reasons)),
                    event.client,
                    event.link_index,
                    event.url,
                    event.ip_hash,
                    event.network,
                    event.user_agent,
                    _ts(event.expires_at) if event.expires_at else None,
                ),
            )
            return cursor.rowcount == 1

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        rows = self.db.read(
            "SELECT * FROM events WHERE message_id = ? AND (expires_at IS NULL OR expires_at > ?) "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (message_id, _ts(self.clock.now()), -1 if limit is None else limit),
        )
        rows.reverse()
        return [
            Event(
                id=r[0],
                message_id=r[1],
                kind=r[2],
                at=_dt(r[3]),  # type: ignore[arg-type]
                verdict=Verdict(r[4]),
                reasons=tuple(json.loads(r[5])),
                client=r[6],
                link_index=r[7],
                url=r[8],
                ip_hash=r[9],
                network=r[10],
                user_agent=r[11],
                expires_at=_dt(r[12]),
            )
            for r in rows
        ]

    def purge_expired(self, now: datetime) -> int:
        with self.db.write() as conn:
            return conn.execute("DELETE FROM events WHERE expires_at <= ?", (_ts(now),)).rowcount

    def get_context(self, message_id: str) -> MessageContext | None:
        return assemble_context(self, message_id)

    # self views
    def add_self_view(self, message_id: str, at: datetime) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT INTO self_views VALUES (?, ?)", (message_id, _ts(at)))

    def list_self_views(self, message_id: str) -> list[datetime]:
        rows = self.db.read(
            "SELECT at FROM self_views WHERE message_id = ? ORDER BY at", (message_id,)
        )
        return [_dt(r[0]) for r in rows]  # type: ignore[misc]

    # settings
    def get_settings(self, user: str) -> Settings:
        rows = self.db.read("SELECT data FROM settings WHERE user = ?", (user.lower(),))
        return Settings.from_dict(json.loads(rows[0][0])) if rows else Settings(user=user.lower())

    def put_settings(self, settings: Settings) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO settings VALUES (?, ?) "
                "ON CONFLICT (user) DO UPDATE SET data = excluded.data",
                (settings.user.lower(), json.dumps(settings.to_dict())),
            )

    # records
    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        rows = self.db.read(
            "SELECT value FROM records WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return json.loads(rows[0][0]) if rows else None

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO records VALUES (?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                (namespace, key, json.dumps(value)),
            )

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO records VALUES (?, ?, ?)",
                (namespace, key, json.dumps(value)),
            )
            return cursor.rowcount == 1

    def delete_record(self, namespace: str, key: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM records WHERE namespace = ? AND key = ?", (namespace, key))

    def list_records(self, namespace: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        rows = self.db.read(
            "SELECT key, value FROM records WHERE namespace = ? AND substr(key, 1, ?) = ? "
            "ORDER BY key",
            (namespace, len(prefix), prefix),
        )
        return [(key, json.loads(value)) for key, value in rows]

    def close(self) -> None:
        self.db.close()

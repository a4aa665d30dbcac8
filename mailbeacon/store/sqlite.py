"""The embedded store: one SQLite file in WAL mode, shared by the server and CLI processes.

Each thread has its own connection; writes take the write lock up front (BEGIN IMMEDIATE) and
wait up to ``busy_timeout`` for it. ``synchronous=NORMAL`` in WAL mode survives a process
crash; ``sync="FULL"`` (MAILBEACON_SQLITE_SYNC) survives power loss too, at some cost per write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import StoreUnavailable, UnknownMessage
from ..files import private_dir, private_file
from ..model import Event, Link, Message, MessageContext, Settings, Verdict
from ..queries import EventKey, MessageQuery, search_text, time_key
from ..rollup import (
    DayCounts,
    MessagePage,
    MessageRow,
    Summary,
    apply_event,
    day_of,
    message_added,
    page_of,
)
from . import Removed, assemble_context

log = logging.getLogger(__name__)

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
    """,
    # The bus's tables (outbox, spool cursor) are the bus's: bus/local.py creates them. Data
    # dirs made before that have an outbox from migration 1, with the same definition.
    # 2: summaries kept as events arrive (the dashboard's list) and daily counters (overview).
    """
    ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'sent';
    ALTER TABLE messages ADD COLUMN activity TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN search TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX messages_by_created ON messages (owner, created_at, id);
    CREATE INDEX messages_by_status ON messages (owner, status, created_at, id);
    CREATE INDEX messages_by_activity ON messages (owner, activity, id);
    CREATE TABLE human_devices (
        message_id TEXT NOT NULL, device TEXT NOT NULL, PRIMARY KEY (message_id, device))
        WITHOUT ROWID;
    CREATE TABLE day_counts (
        owner TEXT NOT NULL, day TEXT NOT NULL, counts TEXT NOT NULL,
        PRIMARY KEY (owner, day));
    """,
)


def _backfill_summaries(conn: sqlite3.Connection) -> None:
    """Migration 2's data: replay every stored event into the new summaries, once."""
    store = _Rollups(conn)
    for row in conn.execute("SELECT id, recipients, subject FROM messages").fetchall():
        conn.execute(
            "UPDATE messages SET search = ? WHERE id = ?",
            (search_text(row[2], json.loads(row[1])), row[0]),
        )
    for row in conn.execute("SELECT * FROM messages").fetchall():
        store.message_added(_message_row(row))
    for row in conn.execute("SELECT * FROM events ORDER BY at, id").fetchall():
        store.event_added(_event(row))


AFTER_MIGRATION = {2: _backfill_summaries}


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _describe(exc: sqlite3.Error) -> str:
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
        return f"disk full ({exc})"
    return str(exc)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is still open. A failed COMMIT (a full disk) may already have rolled
    back, and ROLLBACK itself can fail then: neither may replace the typed error."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _message_row(row: sqlite3.Row | tuple[Any, ...], links: tuple[Link, ...] = ()) -> Message:
    return Message(
        id=row[0],
        owner=row[1],
        recipients=tuple(json.loads(row[2])),
        subject=row[3],
        created_at=_dt(row[4]),  # type: ignore[arg-type]
        sent_at=_dt(row[5]),
        links=links,
    )


def _event(r: sqlite3.Row | tuple[Any, ...]) -> Event:
    return Event(
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


def _insert_event(conn: sqlite3.Connection, event: Event) -> bool:
    """Store an event once and count it into its summary and day counters."""
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
    if cursor.rowcount != 1:
        return False
    _Rollups(conn).event_added(event)
    return True


class _Rollups:
    """Summary and day-counter upkeep inside a write transaction (see mailbeacon.rollup)."""

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
                self.event_added(_event(row), days=False)

    def event_added(self, event: Event, *, days: bool = True) -> None:
        row = self.conn.execute(
            "SELECT id, owner, recipients, subject, created_at, sent_at, summary "
            "FROM messages WHERE id = ?",
            (event.message_id,),
        ).fetchone()
        if row is None:
            return
        message = _message_row(row)
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
        private_dir(path.parent)
        try:
            # SQLite gives the -wal and -shm files the main file's mode: 0600 here makes all
            # three private. Existing files from older versions are tightened too.
            for name in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
                if name == path or name.exists():
                    private_file(name)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {path}: {exc.strerror or exc}") from exc
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
                # Deleted rows (a user's deletion, expired events) are zeroed on disk, not
                # merely unlinked: deleted personal data must not stay readable in the file.
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute(f"PRAGMA synchronous = {'FULL' if self._sync == 'FULL' else 'NORMAL'}")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    @property
    def full_sync(self) -> bool:
        """Whether writes must survive power loss (MAILBEACON_SQLITE_SYNC=FULL)."""
        return self._sync == "FULL"

    @contextmanager
    def write(self, *, deferred: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction; any SQLite failure becomes StoreUnavailable, rolled back.

        Inside another ``write`` of the same thread it joins the outer transaction, so a
        caller can make several writes (a batch of hits, its events and the bus cursor) one
        atomic commit. ``deferred`` takes SQLite's write lock at the first write rather than
        at the start, so reads and computation before it do not hold other processes' writers
        up; if another process wrote in between, that first write fails (StoreUnavailable)
        and the caller retries.
        """
        conn = self.connection()
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        if not self._write_lock.acquire(timeout=self.busy_timeout_ms / 1000):
            raise StoreUnavailable("database busy: timed out waiting for the write lock")
        try:
            try:
                conn.execute("BEGIN" if deferred else "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"database busy: {_describe(exc)}") from exc
            self._local.depth = 1
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise StoreUnavailable(f"write failed: {_describe(exc)}") from exc
            except BaseException:
                _rollback(conn)
                raise
        finally:
            self._local.depth = 0
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
                    if version in AFTER_MIGRATION:
                        AFTER_MIGRATION[version](conn)
                    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the main file and empty it (best effort: a reader
        elsewhere may keep part of it until its next checkpoint)."""
        try:
            self.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed: %s", exc)

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
                "INSERT INTO messages (id, owner, recipients, subject, created_at, sent_at, search)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.owner,
                    json.dumps(list(message.recipients)),
                    message.subject,
                    _ts(message.created_at),
                    _ts(message.sent_at) if message.sent_at else None,
                    search_text(message.subject, message.recipients),
                ),
            )
            conn.executemany(
                "INSERT INTO links VALUES (?, ?, ?)",
                [(message.id, link.index, link.url) for link in message.links],
            )
            _Rollups(conn).message_added(message)

    def _message(self, row: sqlite3.Row | tuple[Any, ...]) -> Message:
        links = self.db.read(
            "SELECT idx, url FROM links WHERE message_id = ? ORDER BY idx", (row[0],)
        )
        return _message_row(row, tuple(Link(i, url) for i, url in links))

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

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        with self.db.write() as conn:
            query = "SELECT subject FROM messages WHERE id = ?"
            row = conn.execute(query, (message_id,)).fetchone()
            if row is None:
                return
            conn.execute(
                "UPDATE messages SET sent_at = ?, recipients = ?, search = ? WHERE id = ?",
                (
                    _ts(sent_at),
                    json.dumps(list(recipients)),
                    search_text(row[0], recipients),
                    message_id,
                ),
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
            return _insert_event(conn, event)

    def add_events(self, events: list[Event]) -> int:
        """Many events in one transaction (imports, the bench); returns how many were new."""
        with self.db.write() as conn:
            return sum(_insert_event(conn, event) for event in events)

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        rows = self.db.read(
            "SELECT * FROM events WHERE message_id = ? AND (expires_at IS NULL OR expires_at > ?) "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (message_id, _ts(self.clock.now()), -1 if limit is None else limit),
        )
        rows.reverse()
        return [_event(r) for r in rows]

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        sql = "SELECT * FROM events WHERE message_id = ? AND (expires_at IS NULL OR expires_at > ?)"
        params: list[Any] = [message_id, _ts(self.clock.now())]
        if before is not None:
            at = _ts(before.at)
            sql += " AND at <= ? AND (at < ? OR id < ?)"
            params += [at, at, before.id]
        rows = self.db.read(sql + " ORDER BY at DESC, id DESC LIMIT ?", (*params, limit))
        return [_event(r) for r in rows]

    # the dashboard's reads
    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        where = ["owner = ?"]
        params: list[Any] = [owner.lower()]
        if query.status:
            where.append("status = ?")
            params.append(query.status)
        if query.q:
            escaped = query.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("search LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if query.since:
            where.append("created_at >= ?")
            params.append(_ts(query.since))
        if query.until:
            where.append("created_at < ?")
            params.append(_ts(query.until))
        column = "activity" if query.sort == "activity" else "created_at"
        direction = "ASC" if query.sort == "oldest" else "DESC"
        if query.after is not None:
            key, last_id = query.after
            op = ">" if direction == "ASC" else "<"
            where.append(f"{column} {op}= ? AND ({column} {op} ? OR id {op} ?)")
            params += [key, key, last_id]
        rows = self.db.read(
            "SELECT id, owner, recipients, subject, created_at, sent_at, summary FROM messages "
            f"WHERE {' AND '.join(where)} ORDER BY {column} {direction}, id {direction} LIMIT ?",
            (*params, query.limit + 1),
        )
        return page_of(
            [MessageRow(_message_row(r), Summary.from_dict(json.loads(r[6]))) for r in rows], query
        )

    def get_summary(self, message_id: str) -> Summary | None:
        rows = self.db.read("SELECT summary FROM messages WHERE id = ?", (message_id,))
        return Summary.from_dict(json.loads(rows[0][0])) if rows else None

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        rows = self.db.read(
            "SELECT day, counts FROM day_counts WHERE owner = ? AND day >= ? AND day <= ?",
            (owner.lower(), first, last),
        )
        return {day: json.loads(counts) for day, counts in rows}

    def purge_expired(self, now: datetime) -> int:
        with self.db.write() as conn:
            touched = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT message_id FROM events WHERE expires_at <= ?", (_ts(now),)
                )
            }
            removed = conn.execute("DELETE FROM events WHERE expires_at <= ?", (_ts(now),)).rowcount
            _Rollups(conn).resummarise(touched)
            return removed

    def purge_domain(self, domain: str, before: datetime) -> int:
        """Events before ``before`` of the domain's senders, their messages' summaries rebuilt,
        and the domain's daily counters of the days before it (the overview's history)."""
        in_domain = "SELECT id FROM messages WHERE substr(owner, instr(owner, '@') + 1) = ?"
        with self.db.write() as conn:
            args = (_ts(before), domain.lower())
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
            _Rollups(conn).resummarise(touched)
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

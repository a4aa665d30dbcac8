"""The embedded store's file: one SQLite database in WAL mode, shared by the server and CLI
processes (and the local bus, whose tables live in it too).

Each thread has its own connection; writes take the write lock up front (BEGIN IMMEDIATE) and
wait up to ``busy_timeout`` for it. ``synchronous=NORMAL`` in WAL mode survives a process
crash; ``sync="FULL"`` (MAILBEACON_SQLITE_SYNC) survives power loss too, at some cost per write.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ...errors import StoreUnavailable
from ...files import private_dir, private_file
from .migrations import AFTER_MIGRATION, MIGRATIONS

log = logging.getLogger(__name__)


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
                    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
            # Data migrations run on the newest schema, which the code that fills it expects.
            for version in range(current + 1, len(MIGRATIONS) + 1):
                if version in AFTER_MIGRATION:
                    AFTER_MIGRATION[version](conn)

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

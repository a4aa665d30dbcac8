"""The in-process bus: hits in an append-only spool, everything else in an outbox table.

Hits are the edge's traffic, so publishing one is a single ``os.write`` to the spool (see
``spool.py``): no lock shared with readers or with the pipeline. The worker reads the spool in
batches and hands each batch to its handler inside one SQLite transaction that also moves the
spool cursor, so a batch is either wholly processed and acknowledged or not at all: a restart
replays exactly what was not processed, never anything twice.

Each process that answers hits appends to its own spool lane (``lane``; see ``spool.py``),
and each lane has its own cursor row (``cursor_name``). The worker drains every lane present
on disk, one batch from one lane at a time and the lanes in turn, so a busy lane never holds
up a quiet one and a lane whose tail waits for its writer holds up nobody.

Other topics (alerts to send, digests) are rows in the ``outbox`` table: a row is deleted
only after its handler returns, leased while it runs, retried with exponential backoff and
jitter on failure (``base`` doubling to ``cap``) and set aside as a dead letter only once it
has failed ``max_attempts`` times *and* for ``horizon`` seconds: a receiver down for an hour
gets its alerts when it is back, not a line in a log after two minutes. Alert deliveries run
on a small pool of threads, one key (the message owner) at a time each, so a slow channel
holds up only its own user's alerts.

The bus owns its tables (``outbox``, ``bus_cursor``) and creates them itself.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..clock import Clock, SystemClock, parse_time
from ..errors import BusUnavailable, RetryLater, StoreUnavailable
from ..redact import redact
from ..store.sqlite import Database
from . import HITS, NOTIFY, BatchHandler, Handler
from . import spool as spool_files
from .spool import Position, SpoolWriter

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, available_at REAL NOT NULL,
    leased_until REAL NOT NULL DEFAULT 0, last_error TEXT, dead INTEGER NOT NULL DEFAULT 0,
    failing_since REAL);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (dead, topic, available_at);
CREATE TABLE IF NOT EXISTS bus_cursor (
    name TEXT PRIMARY KEY, segment INTEGER NOT NULL, offset INTEGER NOT NULL)
"""
"""Idempotent: data dirs made before the bus owned its schema already have the outbox."""
ADDED_COLUMNS = {"failing_since": "REAL"}
"""Outbox columns added since data dirs were first made (ALTER TABLE when missing)."""
HORIZON = 6 * 3600.0
"""How long a failing message is retried before it is set aside (the default)."""

Failure = tuple[int, int, float, str, bool]
"""(row id, attempts, seconds until the next try, error, whether it counts as a failure)."""

# Rows of one key are delivered one at a time; keys run side by side.
_KEY = "COALESCE(json_extract(payload, '$.owner'), json_extract(payload, '$.message_id'), id)"


def backoff(attempt: int, *, base: float = 1.0, cap: float = 600.0) -> float:
    """Seconds before retry ``attempt`` (1-based): exponential with jitter, capped."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** min(attempt - 1, 64))


def cursor_name(lane: int) -> str:
    """The lane's row in ``bus_cursor``: ``hits`` for lane 0 (as before lanes), else
    ``hits/lane-<k>``."""
    return HITS if lane == 0 else f"{HITS}/{spool_files.LANE_PREFIX}{lane}"


def _lane_of(name: str) -> int | None:
    """The lane a ``bus_cursor`` row belongs to (None: another reader's row)."""
    if name == HITS:
        return 0
    if name.startswith(f"{HITS}/"):
        return spool_files.lane_number(name[len(HITS) + 1 :]) or None
    return None


def delivery_key(row_id: int, payload: dict[str, Any]) -> str:
    """Whose turn a row waits for: the same expression as ``_KEY``, in Python."""
    return str(payload.get("owner") or payload.get("message_id") or row_id)


class LocalBus:
    """The Bus and Worker ports on a spool and SQLite, for one machine."""

    def __init__(
        self,
        db: Database,
        *,
        spool_dir: Path | None = None,
        lane: int = 0,
        max_attempts: int = 8,
        horizon: float = HORIZON,
        base: float = 1.0,
        cap: float = 600.0,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.25,
        spool_poll_seconds: float = 0.02,
        batch: int = 256,
        delivery_threads: int = 8,
        concurrent_topics: tuple[str, ...] = (NOTIFY,),
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.spool_dir = spool_dir or db.path.parent / "spool"
        self.lane = lane
        """The spool lane this process appends hits to (one writer per lane); the worker
        reads every lane whatever its own."""
        spool_files.lane_dir(self.spool_dir, lane)  # a bad lane fails here, not at a hit
        self.max_attempts = max_attempts
        self.horizon = horizon
        self.base = base
        self.cap = cap
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.spool_poll_seconds = spool_poll_seconds
        self.batch = batch
        self.delivery_threads = delivery_threads
        self.concurrent_topics = concurrent_topics
        self.clock = clock or SystemClock()
        self.handlers: dict[str, Handler] = {}
        self.batch_handlers: dict[str, BatchHandler] = {}
        self._writer: SpoolWriter | None = None
        self._writer_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._dispatch_wake = threading.Event()
        self._spool_seen: tuple[tuple[int, int, int, int], ...] | None = None
        self._next_lane = 0
        """The lane whose turn it is to give the next batch (or the first after it)."""
        self.processed_at: float | None = None
        """When a batch of hits was last stored (epoch seconds)."""
        self.last_error: str | None = None
        with db.write() as conn:
            for statement in filter(str.strip, SCHEMA.split(";")):
                conn.execute(statement)
            have = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")

    # publishing

    def now(self) -> float:
        """Seconds since the epoch on the injected clock: leases and backoff are timestamps."""
        return self.clock.now().timestamp()

    def subscribe(self, topic: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        self.handlers[topic] = handler
        if batch is not None:
            self.batch_handlers[topic] = batch

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Hits: one append to the spool. Others: one committed outbox row."""
        if topic == HITS:
            self.publish_hit(json.dumps(payload, separators=(",", ":")).encode())
            return
        row = (topic, json.dumps(payload, separators=(",", ":")), self.now())
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO outbox (topic, payload, available_at) VALUES (?, ?, ?)", row
                )
        except StoreUnavailable as exc:
            raise BusUnavailable(str(exc)) from exc
        self._wake.set()
        if topic in self.concurrent_topics:
            self._dispatch_wake.set()

    def publish_hit(self, record: bytes, *, wait: bool = True) -> int:
        """Append one encoded hit (JSON) to the spool; durable when this returns, or (with
        ``wait=False`` on a synchronous spool) once ``hit_spool().flush()`` covers the ticket
        returned."""
        writer = self._writer or self._open_writer()
        try:
            ticket = writer.append(record, wait=wait)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise BusUnavailable(f"hit spool: disk full ({exc.strerror})") from exc
            raise BusUnavailable(f"hit spool: {exc.strerror or exc}") from exc
        if not self._wake.is_set():  # set() notifies under a lock: a cost per pixel
            self._wake.set()
        return ticket

    def hit_spool(self) -> SpoolWriter:
        """The spool's writer (an edge that must not block flushes it from its own thread)."""
        return self._writer or self._open_writer()

    def _open_writer(self) -> SpoolWriter:
        with self._writer_lock:
            if self._writer is None:
                directory = spool_files.lane_dir(self.spool_dir, self.lane)
                root = self.spool_dir if self.lane else None
                self._writer = SpoolWriter(directory, sync=self.db.full_sync, root=root)
            return self._writer

    # the spool side

    def _cursor(self, lane: int = 0, conn: sqlite3.Connection | None = None) -> Position:
        sql, args = "SELECT segment, offset FROM bus_cursor WHERE name = ?", (cursor_name(lane),)
        row = (
            conn.execute(sql, args).fetchone()
            if conn
            else next(iter(self.db.read(sql, args)), None)
        )
        return Position(row[0], row[1]) if row else Position(0, 0)

    def cursors(self) -> dict[int, Position]:
        """Every lane's committed cursor, by lane (a lane without a row has none yet)."""
        rows = self.db.read(
            "SELECT name, segment, offset FROM bus_cursor WHERE name = ? OR name LIKE ?",
            (HITS, f"{HITS}/{spool_files.LANE_PREFIX}%"),
        )
        found = {}
        for name, segment, offset in rows:
            lane = _lane_of(name)
            if lane is not None:
                found[lane] = Position(segment, offset)
        return found

    def _waiting(self) -> list[tuple[Path, Position]]:
        """Each lane present on disk and where its unprocessed hits start."""
        cursors = self.cursors()
        return [
            (spool_files.lane_dir(self.spool_dir, lane), cursors.get(lane, Position(0, 0)))
            for lane in spool_files.lanes(self.spool_dir)
        ]

    def pending_hits(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Hits answered but not yet processed, oldest first (read-only: for readers that
        must not wait for the worker, such as `mailbeacon stats`). With ``message_id``, only
        that message's, found by a byte search before any record is decoded."""
        needle = None
        if message_id is not None:
            needle = b'"message_id":' + json.dumps(message_id).encode()
        found = []
        lanes = 0
        for directory, cursor in self._waiting():
            if needle is None:
                records = list(spool_files.iter_pending(directory, cursor))
            else:
                records = spool_files.find_pending(directory, cursor, needle)
            lanes += bool(records)
            for record in records:
                payload = _decode(record)
                if payload is not None and message_id in (None, payload.get("message_id")):
                    found.append(payload)
        if lanes > 1:  # each lane is in order; across lanes, by when each hit was answered
            found.sort(key=_sort_time)
        return found

    def _spool_moved(self) -> bool:
        """Cheaply: has anything been appended or rotated in any lane since the last look?
        (A listing of the spool directory and of each lane, and one stat per lane.)"""
        seen = []
        for lane in spool_files.lanes(self.spool_dir):
            directory = spool_files.lane_dir(self.spool_dir, lane)
            numbers = spool_files.segments(directory)
            if not numbers:
                continue
            try:
                size = spool_files.segment_path(directory, numbers[-1]).stat().st_size
            except FileNotFoundError:
                return True
            seen.append((lane, numbers[-1], len(numbers), size))
        if not seen:
            return False
        moved = tuple(seen) != self._spool_seen
        self._spool_seen = tuple(seen)
        return moved

    def _drain_spool(self) -> int:
        """Process one batch of hits from the lane whose next hit is the oldest (ties: the
        next lane in turn), up to the next hit waiting in another lane; returns records
        consumed (0: every lane is drained, or waits for its writer).

        One person's open and click may reach two edge processes milliseconds apart: taken
        lane by lane, the click could be classified before the open it followed (and judged
        a scanner's walk). Across lanes the hits are taken in the order they were answered,
        as from one spool."""
        if self.handlers.get(HITS) is None and self.batch_handlers.get(HITS) is None:
            return 0
        present = spool_files.lanes(self.spool_dir)
        turn = bisect.bisect_left(present, self._next_lane)
        cursors = self.cursors()
        heads = []
        for rank, lane in enumerate(present[turn:] + present[:turn]):
            at = self._next_at(lane, cursors.get(lane, Position(0, 0)))
            if at is not None:
                heads.append((at, rank, lane))
        if not heads:
            return 0
        heads.sort()
        _, _, lane = heads[0]
        step = self._drain_lane(lane, until=heads[1][0] if len(heads) > 1 else None)
        if step:
            self._next_lane = lane + 1
        return step

    def _next_at(self, lane: int, start: Position) -> str | None:
        """When ``lane``'s next hit after ``start`` was answered (its ISO time; "" for one
        without, or for unreadable bytes to skip), or None when the lane has nothing to read."""
        head = spool_files.read(spool_files.lane_dir(self.spool_dir, lane), start, max_records=1)
        if head.end == start:
            return None
        return _answered_at(head.records[0]) if head.records else ""

    def _drain_lane(self, lane: int, *, until: str | None = None) -> int:
        """Process one batch from ``lane`` in one transaction with its cursor, its hits up
        to the time ``until`` (at least one); returns records consumed."""
        many = self.batch_handlers.get(HITS)
        directory = spool_files.lane_dir(self.spool_dir, lane)
        # Deferred: the batch's reads and classification run before SQLite's write lock is
        # taken, at the first insert, so other processes' writers wait only for the writes.
        with self.db.write(deferred=True) as conn:
            start = self._cursor(lane, conn)
            batch = spool_files.read(directory, start, max_records=self.batch)
            if batch.end == start:
                return 0
            if until is not None and len(batch.records) > 1:
                taken = 1 + sum(
                    1
                    for _ in itertools.takewhile(
                        lambda r: _answered_at(r) <= until,
                        batch.records[1:],
                    )
                )
                if taken < len(batch.records):
                    batch = spool_files.read(directory, start, max_records=taken)
            payloads = [p for r in batch.records if (p := _decode(r)) is not None]
            if many is not None and len(payloads) > 1:
                conn.execute("SAVEPOINT batch")
                try:
                    many(payloads)
                except (StoreUnavailable, sqlite3.OperationalError):
                    raise  # the database itself: roll back, the worker retries the batch later
                except Exception as exc:
                    conn.execute("ROLLBACK TO batch")
                    log.warning("a batch of %s hits failed (%r); one by one", len(payloads), exc)
                    self._one_by_one(conn, payloads)
                conn.execute("RELEASE batch")
            else:
                self._one_by_one(conn, payloads)
            self._save_cursor(conn, lane, batch.end)
        spool_files.remove(directory, batch.finished)
        self.processed_at = self.now()
        return max(1, len(batch.records))

    def _one_by_one(self, conn: sqlite3.Connection, payloads: list[dict[str, Any]]) -> None:
        """After a failed batch: each hit in its own savepoint; a failing hit goes to the
        outbox, where it is retried with backoff (and dead-lettered) like any message."""
        many = self.batch_handlers.get(HITS)
        handler = self.handlers.get(HITS) or (lambda p: many([p]))  # type: ignore[misc]
        for payload in payloads:
            conn.execute("SAVEPOINT hit")
            try:
                handler(payload)
            except (StoreUnavailable, sqlite3.OperationalError):
                raise  # the database itself (locked, busy, I/O): the batch again; a hit
                # that breaks a constraint goes to the outbox like any failing hit
            except Exception as exc:
                conn.execute("ROLLBACK TO hit")
                log.warning("hit %s failed, retried later: %r", payload.get("id"), exc)
                dead = 1 if self.max_attempts <= 1 and self.horizon <= 0 else 0
                conn.execute(
                    "INSERT INTO outbox (topic, payload, attempts, available_at, last_error, dead,"
                    " failing_since) VALUES (?, ?, 1, ?, ?, ?, ?)",
                    (
                        HITS,
                        json.dumps(payload),
                        self.now() + backoff(1, base=self.base, cap=self.cap),
                        repr(exc)[:500],
                        dead,
                        self.now(),
                    ),
                )
            conn.execute("RELEASE hit")

    @staticmethod
    def _save_cursor(conn: sqlite3.Connection, lane: int, end: Position) -> None:
        conn.execute(
            "INSERT INTO bus_cursor VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
            " SET segment = excluded.segment, offset = excluded.offset",
            (cursor_name(lane), end.segment, end.offset),
        )

    # the outbox side

    def _claim(
        self,
        topics: Iterable[str],
        *,
        include_leased: bool,
        limit: int | None = None,
        exclude_keys: Iterable[str] = (),
        one_per_key: bool = False,
    ) -> list[tuple[Any, ...]]:
        topics = list(topics)
        if not topics:
            return []
        now = self.now()
        marks = ",".join("?" * len(topics))
        params: list[Any] = [now + self.lease_seconds, *topics, now]
        where = f"dead = 0 AND topic IN ({marks}) AND available_at <= ?"
        if not include_leased:
            where += " AND leased_until <= ?"
            params.append(now)
        excluded = list(exclude_keys)
        if excluded:
            where += f" AND {_KEY} NOT IN ({','.join('?' * len(excluded))})"
            params.extend(excluded)
        pick = (
            f"SELECT MIN(id) FROM outbox WHERE {where} GROUP BY {_KEY} ORDER BY MIN(id)"
            if one_per_key
            else f"SELECT id FROM outbox WHERE {where} ORDER BY id"
        )
        with self.db.write() as conn:
            return conn.execute(
                f"UPDATE outbox SET leased_until = ? WHERE id IN ({pick} "
                f"LIMIT {int(limit or self.batch)}) RETURNING id, topic, payload, attempts",
                params,
            ).fetchall()

    def _settle(self, done: list[int], failed: list[Failure]) -> None:
        """Delete what was handled; reschedule the rest. A counted failure sets a row aside
        once it has failed ``max_attempts`` times and for ``horizon`` seconds; a RetryLater
        waits and is never counted."""
        now = self.now()
        with self.db.write() as conn:
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in done])
            for row_id, attempts, delay, error, counted in failed:
                row = conn.execute(
                    "UPDATE outbox SET attempts = ?, available_at = ?, leased_until = 0, "
                    "last_error = ?, failing_since = CASE WHEN ? THEN COALESCE(failing_since, ?)"
                    " ELSE failing_since END WHERE id = ? RETURNING topic, failing_since",
                    (attempts, now + delay, redact(error)[:500], counted, now, row_id),
                ).fetchone()
                if not counted or row is None or attempts < self.max_attempts:
                    continue
                if now - (row[1] if row[1] is not None else now) >= self.horizon:
                    conn.execute("UPDATE outbox SET dead = 1 WHERE id = ?", (row_id,))
                    log.error(
                        "outbox %s message %s set aside after %s attempts in %.0f s: %s",
                        row[0],
                        row_id,
                        attempts,
                        now - row[1],
                        redact(error),
                    )

    def _deliver(self, rows: list[tuple[Any, ...]]) -> None:
        done: list[int] = []
        failed: list[Failure] = []
        for row_id, topic, payload, attempts in rows:
            handler = self.handlers.get(topic)
            if handler is None:
                continue
            try:
                handler(json.loads(payload))
                done.append(row_id)
            except RetryLater as exc:
                # An explicit "not yet" (rate limits) is not a failure: it never dead-letters.
                failed.append((row_id, attempts, exc.seconds, str(exc), False))
            except Exception as exc:
                log.warning("handler for %s failed (attempt %s): %r", topic, attempts + 1, exc)
                wait = backoff(attempts + 1, base=self.base, cap=self.cap)
                failed.append((row_id, attempts + 1, wait, repr(exc), True))
        self._settle(done, failed)

    def drain(self, topics: Iterable[str] | None = None, *, include_leased: bool = False) -> int:
        """Deliver everything ready now, in this thread; returns how many messages were handled."""
        chosen = list(self.handlers) if topics is None else list(topics)
        handled = 0
        while True:
            step = self._drain_spool() if HITS in chosen else 0
            rows = self._claim(chosen, include_leased=include_leased)
            if rows:
                self._deliver(rows)
                include_leased = False  # leased rows are taken once; requeued ones wait
            handled += step + len(rows)
            if not step and not rows:
                return handled

    def pending(self, topic: str | None = None) -> int:
        """Messages not yet delivered: outbox rows, plus unprocessed hits in the spool."""
        sql = "SELECT COUNT(*) FROM outbox WHERE dead = 0" + (" AND topic = ?" if topic else "")
        rows = self.db.read(sql, (topic,) if topic else ())[0][0]
        if topic in (None, HITS):
            for directory, cursor in self._waiting():
                rows += sum(1 for _ in spool_files.iter_pending(directory, cursor))
        return rows

    def progress(self) -> dict[str, Any]:
        """What the worker's heartbeat reports: the committed spool cursors (``cursors``, by
        lane; ``cursor``, lane 0's, for a reader from before lanes), the last batch stored,
        dead letters and the last error."""
        cursors = self.cursors()
        first = cursors.get(0, Position(0, 0))
        return {
            "cursor": [first.segment, first.offset],
            "cursors": {lane: [c.segment, c.offset] for lane, c in sorted(cursors.items())},
            "processed_at": self.processed_at,
            "dead_letters": self.dead_letter_count(),
            "error": self.last_error,
        }

    def spool_backlog(
        self, cursors: Mapping[int, tuple[int, int]] | None
    ) -> tuple[int, float | None]:
        """Bytes of hits in the spool past each lane's cursor in ``cursors`` (a lane without
        one: all of it), summed over lanes, and when the oldest first hit of a lane was
        answered (health.Backlog), without reading the backlog."""
        total, oldest = 0, None
        for lane in spool_files.lanes(self.spool_dir):
            cursor = (cursors or {}).get(lane)
            size, first = spool_files.backlog(
                spool_files.lane_dir(self.spool_dir, lane), Position(*cursor) if cursor else None
            )
            total += size
            payload = _decode(first) if first else None
            at = _answered(payload) if payload else None
            if at is not None and (oldest is None or at < oldest):
                oldest = at
        return total, oldest

    def dead_letter_count(self) -> int:
        return int(self.db.read("SELECT COUNT(*) FROM outbox WHERE dead = 1")[0][0])

    def replay_dead_letters(self, topic: str | None = None) -> int:
        """Put the dead letters (of ``topic``) back in line, with their attempts reset: once
        the cause is fixed, the worker delivers them again (handling is idempotent)."""
        where = "dead = 1" + (" AND topic = ?" if topic else "")
        with self.db.write() as conn:
            cursor = conn.execute(
                f"UPDATE outbox SET dead = 0, attempts = 0, available_at = ?, leased_until = 0 "
                f"WHERE {where}",
                (self.now(), *((topic,) if topic else ())),
            )
        self._wake.set()  # a worker in this process delivers them now; another, on its next poll
        return int(cursor.rowcount)

    def dead_letters(self) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT id, topic, payload, attempts, last_error FROM outbox WHERE dead = 1"
        )
        return [
            {
                "id": r[0],
                "topic": r[1],
                "payload": json.loads(r[2]),
                "attempts": r[3],
                "error": r[4],
            }
            for r in rows
        ]

    # the background worker

    def _run(self) -> None:
        serial = [t for t in self.handlers if t not in self.concurrent_topics]
        next_outbox = 0.0
        # A lane whose last bytes are an unfinished frame and that its writer no longer
        # appends to (a corrupt header; an edge process that died mid-write) does not move:
        # it is read again once such a frame can be known to be torn (spool.TORN_SECONDS).
        recheck = 0.0
        while not self._stop.is_set():
            handled = 0
            try:
                if HITS in self.handlers and (self._spool_moved() or time.monotonic() >= recheck):
                    while (step := self._drain_spool()) and not self._stop.is_set():
                        handled += step
                    self._spool_moved()  # what we just consumed is seen
                    recheck = time.monotonic() + spool_files.TORN_SECONDS
                if time.monotonic() >= next_outbox or self._wake.is_set():
                    self._wake.clear()
                    rows = self._claim(serial, include_leased=False)
                    if rows:
                        self._deliver(rows)
                        handled += len(rows)
                    else:
                        next_outbox = time.monotonic() + self.poll_seconds
            except (StoreUnavailable, sqlite3.Error) as exc:
                log.error("bus worker: %s", exc)
                self.last_error = str(exc)[:300]
                self._spool_seen = None  # the batch was rolled back: read it again next turn
                self._stop.wait(self.poll_seconds)
            else:
                self.last_error = None
            if not handled:
                self._wake.wait(self.spool_poll_seconds)

    def _dispatch(self) -> None:
        """Hand ready rows of concurrent topics to the pool, one row per idle key."""
        topics = [t for t in self.concurrent_topics if t in self.handlers]
        assert self._pool is not None
        while not self._stop.is_set():
            with self._busy_lock:
                busy = list(self._busy)
            free = self.delivery_threads - len(busy)
            rows: list[tuple[Any, ...]] = []
            if free > 0 and topics:
                try:
                    rows = self._claim(
                        topics,
                        include_leased=False,
                        limit=free,
                        exclude_keys=busy,
                        one_per_key=True,
                    )
                except (StoreUnavailable, sqlite3.Error) as exc:
                    log.error("bus delivery: %s", exc)
            for row in rows:
                key = delivery_key(row[0], json.loads(row[2]))
                with self._busy_lock:
                    self._busy.add(key)
                self._pool.submit(self._deliver_keyed, row, key)
            self._dispatch_wake.wait(self.poll_seconds)
            self._dispatch_wake.clear()

    def _deliver_keyed(self, row: tuple[Any, ...], key: str) -> None:
        try:
            self._deliver([row])
        except Exception:
            log.exception("delivering outbox message %s", row[0])
        finally:
            with self._busy_lock:
                self._busy.discard(key)
            self._dispatch_wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.delivery_threads, thread_name_prefix="bus-delivery")
        for target, name in ((self._run, "bus-worker"), (self._dispatch, "bus-dispatch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._dispatch_wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._writer is not None:
            self._writer.close()


def _answered(payload: dict[str, Any]) -> float | None:
    """When a hit was answered (epoch seconds; None when it has no readable time)."""
    try:
        return parse_time(str(payload["at"])).timestamp()
    except (KeyError, ValueError):
        return None


def _sort_time(payload: dict[str, Any]) -> float:
    """A hit without a readable time sorts first."""
    at = _answered(payload)
    return float("-inf") if at is None else at


def _answered_at(record: bytes) -> str:
    """A spooled hit's time, for ordering lanes ("" when it has none or is not JSON:
    ``_decode`` warns about those when the batch is processed)."""
    try:
        payload = json.loads(record)
    except ValueError:
        return ""
    return str(payload.get("at") or "") if isinstance(payload, dict) else ""


def _decode(record: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(record)
    except ValueError:
        log.warning("hit spool: a record that is not JSON was skipped")
        return None
    return payload if isinstance(payload, dict) else None

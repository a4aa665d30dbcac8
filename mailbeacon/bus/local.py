"""The in-process bus: an outbox table in the embedded database, drained by a worker thread.

Publishing is one INSERT, so a hit is durable before the pixel answers. A row is deleted only
after its handler returns; a crash or restart leaves it in place for the next worker. Rows are
leased while a handler runs, retried with exponential backoff on failure, and set aside as
dead letters after ``max_attempts``.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import BusUnavailable, RetryLater, StoreUnavailable
from ..redact import redact
from ..store.sqlite import Database
from . import Handler

log = logging.getLogger(__name__)


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds before retry ``attempt`` (1-based): exponential with full jitter, capped."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** (attempt - 1))


class LocalBus:
    """The Bus port on SQLite, plus the worker that delivers to subscribed handlers."""

    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = 8,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.25,
        batch: int = 64,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.now = now
        self.handlers: dict[str, Handler] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.handlers[topic] = handler

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Insert one row and return once it is committed."""
        row = (topic, json.dumps(payload, separators=(",", ":")), self.now())
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO outbox (topic, payload, available_at) VALUES (?, ?, ?)", row
                )
        except StoreUnavailable as exc:
            raise BusUnavailable(str(exc)) from exc
        self._wake.set()

    def _claim(self, topics: Iterable[str], *, include_leased: bool) -> list[tuple[Any, ...]]:
        topics = list(topics)
        if not topics:
            return []
        now = self.now()
        marks = ",".join("?" * len(topics))
        lease_clause = "" if include_leased else "AND leased_until <= ?"
        params: tuple[Any, ...] = (now + self.lease_seconds, *topics, now)
        if not include_leased:
            params = (*params, now)
        with self.db.write() as conn:
            return conn.execute(
                f"UPDATE outbox SET leased_until = ? WHERE id IN ("
                f"SELECT id FROM outbox WHERE dead = 0 AND topic IN ({marks}) "
                f"AND available_at <= ? {lease_clause} ORDER BY id LIMIT {int(self.batch)}) "
                "RETURNING id, topic, payload, attempts",
                params,
            ).fetchall()

    def _settle(self, done: list[int], failed: list[tuple[int, int, float, str]]) -> None:
        with self.db.write() as conn:
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in done])
            for row_id, attempts, delay, error in failed:
                dead = 1 if attempts >= self.max_attempts and delay >= 0 else 0
                conn.execute(
                    "UPDATE outbox SET attempts = ?, available_at = ?, leased_until = 0, "
                    "last_error = ?, dead = ? WHERE id = ?",
                    (attempts, self.now() + abs(delay), redact(error)[:500], dead, row_id),
                )
                if dead:
                    log.error(
                        "outbox message %s set aside after %s attempts: %s", row_id, attempts, error
                    )

    def _deliver(self, rows: list[tuple[Any, ...]]) -> None:
        done: list[int] = []
        failed: list[tuple[int, int, float, str]] = []
        for row_id, topic, payload, attempts in rows:
            handler = self.handlers.get(topic)
            if handler is None:
                continue
            try:
                handler(json.loads(payload))
                done.append(row_id)
            except RetryLater as exc:
                # An explicit "not yet" (rate limits) is not a failure: it never dead-letters.
                failed.append((row_id, attempts, -exc.seconds, str(exc)))
            except Exception as exc:
                log.warning("handler for %s failed (attempt %s): %r", topic, attempts + 1, exc)
                failed.append((row_id, attempts + 1, backoff(attempts + 1), repr(exc)))
        self._settle(done, failed)

    def drain(self, topics: Iterable[str] | None = None, *, include_leased: bool = False) -> int:
        """Deliver everything ready now, in this thread; returns how many rows were handled."""
        chosen = list(self.handlers) if topics is None else list(topics)
        handled = 0
        while rows := self._claim(chosen, include_leased=include_leased):
            self._deliver(rows)
            handled += len(rows)
            include_leased = False  # leased rows are taken once; what we requeue waits its turn
        return handled

    def pending(self, topic: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM outbox WHERE dead = 0" + (" AND topic = ?" if topic else "")
        return self.db.read(sql, (topic,) if topic else ())[0][0]

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

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.drain()
            except (StoreUnavailable, sqlite3.Error) as exc:
                log.error("outbox worker: %s", exc)
                handled = 0
            if not handled:
                self.idle.set()
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                self.idle.clear()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

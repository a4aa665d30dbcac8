"""A Bus and its Worker in one process's memory: the fake service tests run on.

It keeps the contract of the real buses (tests/integration/test_bus_contract.py): payloads go
through JSON, so a handler never shares the publisher's dict; a message is removed only once
its handler returns; a handler that raises gets it again after a backoff (1 s, 2 s, 4 s... on
``now``), and it is set aside once it has failed ``max_attempts`` times and for ``horizon``
seconds; RetryLater waits the asked time and is never counted as a failure.
``published`` keeps everything ever published, for tests that only look.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import BusUnavailable, RetryLater
from . import HITS, BatchHandler, Handler


@dataclass
class _Pending:
    topic: str
    payload: str
    available_at: float
    attempts: int = 0
    failing_since: float | None = None


class MemoryBus:
    def __init__(
        self, *, max_attempts: int = 8, horizon: float = 6 * 3600.0, clock: Clock | None = None
    ) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.broken = False
        self.max_attempts = max_attempts
        self.horizon = horizon
        self.clock = clock or SystemClock()
        self.handlers: dict[str, Handler] = {}
        self._queue: list[_Pending] = []
        self._dead: list[_Pending] = []
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        """Seconds since the epoch on the injected clock (backoff deadlines are timestamps)."""
        return self.clock.now().timestamp()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.broken:
            raise BusUnavailable("memory bus marked broken")
        text = json.dumps(payload, separators=(",", ":"))
        with self._lock:
            self.published.append((topic, payload))
            self._queue.append(_Pending(topic, text, self.now()))
        self._wake.set()

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload in self.published if t == topic]

    def subscribe(self, topic: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """In memory every message is delivered on its own: ``batch`` is not needed."""
        self.handlers[topic] = handler

    def pending_hits(self, message_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                payload
                for m in self._queue
                if m.topic == HITS
                and message_id in (None, (payload := json.loads(m.payload)).get("message_id"))
            ]

    def drain(self, topics: Iterable[str] | None = None, *, include_leased: bool = False) -> int:
        """Deliver, once each and in this thread, the messages ready now; returns how many.

        Nothing is leased in memory, so ``include_leased`` (the Worker protocol's) changes nothing.
        """
        chosen = set(self.handlers if topics is None else topics)
        with self._lock:
            now = self.now()
            ready = [
                m
                for m in self._queue
                if m.topic in chosen and m.topic in self.handlers and m.available_at <= now
            ]
            for message in ready:
                self._deliver(message)
        return len(ready)

    def _deliver(self, message: _Pending) -> None:
        try:
            self.handlers[message.topic](json.loads(message.payload))
        except RetryLater as exc:  # "not yet" is not a failure
            message.available_at = self.now() + exc.seconds
            return
        except Exception:
            now = self.now()
            message.attempts += 1
            message.available_at = now + min(300.0, 2.0 ** min(message.attempts - 1, 16))
            if message.failing_since is None:
                message.failing_since = now
            failing = now - message.failing_since
            if message.attempts >= self.max_attempts and failing >= self.horizon:
                self._queue.remove(message)
                self._dead.append(message)
            return
        self._queue.remove(message)

    def pending(self, topic: str | None = None) -> int:
        with self._lock:
            return sum(1 for m in self._queue if topic is None or m.topic == topic)

    def dead_letters(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"topic": m.topic, "payload": json.loads(m.payload), "attempts": m.attempts}
                for m in self._dead
            ]

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.drain():
                self._wake.wait(0.05)
                self._wake.clear()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="memory-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

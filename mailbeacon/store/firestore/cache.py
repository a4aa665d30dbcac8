"""What this process knows of message documents ahead of Firestore, to save reads per hit.

- ``seen``: each message document as this process last read or wrote it, with its update
  time: the summary write that follows a hit's get_context needs no second read.
- ``fresh``: events this process stored in the last seconds, by message: a hit processed while
  an earlier one waits for its coalesced context write still sees it.
- ``trims``: the oldest events get_context found beyond the message's ``recent`` window,
  taken out by the next context write.

The pipeline keeps it; messages and housekeeping forget what their writes make stale.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ...model import Event

FRESH_SECONDS = 10.0


class DocumentCache:
    """Thread-safe; bounded (the copies are dropped wholesale past 10,000 messages)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._fresh: dict[str, list[tuple[float, Event]]] = {}
        self._trims: dict[str, list[str]] = {}

    def remember(self, message_id: str, update_time: Any, d: dict[str, Any]) -> None:
        """Keep the newest copy: a read that started before this process's own write may
        finish after it, and its older copy would make the next write's condition fail."""
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            known = self._seen.get(message_id)
            if known is None or known[0] is None or update_time >= known[0]:
                self._seen[message_id] = (update_time, d)

    def take(self, message_id: str) -> tuple[list[str], tuple[Any, dict[str, Any]] | None]:
        """The trims due and the copy last seen, both handed over to one context write."""
        with self._lock:
            return self._trims.pop(message_id, []), self._seen.pop(message_id, None)

    def trim_later(self, message_id: str, event_ids: list[str]) -> None:
        with self._lock:
            self._trims[message_id] = event_ids

    def stale(self, message_id: str) -> None:
        """The message document changed in a way the copy does not show."""
        self._seen.pop(message_id, None)

    def add_fresh(self, event: Event) -> None:
        with self._lock:
            self._fresh.setdefault(event.message_id, []).append((time.monotonic(), event))

    def fresh(self, message_id: str, keep: float = FRESH_SECONDS) -> dict[str, Event]:
        """The message's events stored here in the last ``keep`` seconds, by id."""
        horizon = time.monotonic() - keep
        with self._lock:
            for key in [k for k, v in self._fresh.items() if v[-1][0] < horizon]:
                del self._fresh[key]
            kept = [(t, e) for t, e in self._fresh.get(message_id, ()) if t >= horizon]
            if kept:
                self._fresh[message_id] = kept
        return {e.id: e for _, e in kept}

    def drop_fresh(self, message_id: str, event_ids: set[str]) -> None:
        """Purged events: a later context must not bring them back."""
        with self._lock:
            kept = [(t, e) for t, e in self._fresh.get(message_id, ()) if e.id not in event_ids]
            if kept:
                self._fresh[message_id] = kept
            else:
                self._fresh.pop(message_id, None)

    def forget(self, message_id: str) -> None:
        """The message is gone."""
        with self._lock:
            self._seen.pop(message_id, None)
            self._fresh.pop(message_id, None)

"""Coalesce writes per key, so a hot document is written at most about once per interval.

Firestore sustains about one write per second per document. When a message is opened hundreds
of times a minute, every hit still lands in its own event document, but the per-message context
document (what the classifier reads) receives the hits of one interval in a single write.
``submit`` blocks until the write that carries its item has finished: a Cloud Function keeps
CPU only while it handles a request, so nothing may be left for a background thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Flush = Callable[[Any, list[Any]], None]


@dataclass
class _Batch:
    items: list[Any] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass
class _Slot:
    pending: _Batch = field(default_factory=_Batch)
    leader: bool = False
    writing: threading.Lock = field(default_factory=threading.Lock)
    last_write: float = 0.0
    not_before: float = 0.0  # another process wrote this document at about this time


class Coalescer:
    """One leader per key writes everything submitted meanwhile, at most once per ``interval``."""

    def __init__(
        self,
        flush: Flush,
        *,
        interval: float = 1.0,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._flush = flush
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: dict[Hashable, _Slot] = {}

    def written_elsewhere(self, key: Hashable, at: float) -> None:
        """Note that another process wrote ``key`` at ``at`` (wall clock seconds)."""
        with self._lock:
            slot = self._slots.setdefault(key, _Slot())
            slot.not_before = max(slot.not_before, at + self.interval)

    def submit(self, key: Hashable, item: Any) -> None:
        """Have ``item`` written with its key's next batch; raises what that write raised."""
        with self._lock:
            slot = self._slots.setdefault(key, _Slot())
            batch = slot.pending
            batch.items.append(item)
            lead = not slot.leader
            slot.leader = slot.leader or lead
        if lead:
            self._lead(key, slot)
        elif not batch.done.wait(self.timeout):
            raise TimeoutError(f"no write for {key!r} within {self.timeout}s")
        if batch.error is not None:
            raise batch.error

    def _lead(self, key: Hashable, slot: _Slot) -> None:
        with slot.writing:  # one write per key at a time, spaced from the end of the last one
            # Rate limiting, not synchronisation: wait out the rest of the document's interval.
            wait = max(slot.last_write + self.interval, slot.not_before) - self._clock()
            if wait > 0:
                self._sleep(min(wait, 2 * self.interval))  # bounded against clock skew
            with self._lock:
                batch, slot.pending = slot.pending, _Batch()
                slot.leader = False  # whoever submits from now on leads the next batch
                if len(self._slots) > 10_000:
                    self._forget_idle()
            try:
                self._flush(key, batch.items)
            except BaseException as exc:
                batch.error = exc
            finally:
                slot.last_write = self._clock()
                batch.done.set()

    def _forget_idle(self) -> None:
        horizon = self._clock() - 2 * self.interval
        for key in [
            k
            for k, s in self._slots.items()
            if not s.leader
            and not s.writing.locked()
            and not s.pending.items
            and max(s.last_write, s.not_before) < horizon
        ]:
            del self._slots[key]

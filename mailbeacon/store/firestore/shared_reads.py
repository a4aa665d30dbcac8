"""How the hits of one message handled at the same moment on an instance meet its document.

The hits consumer runs many deliveries at once on an instance (concurrency 40): a burst on one
message (a newsletter opened by its recipients in the same minute, a scanner walking the
links) would otherwise read the message document once per hit, each read the same document
within milliseconds. ``SharedReads``: a read that starts while another of the same document is
on the wire waits for that one's answer instead. ``Turns``: the hits that got one answer then
take turns until each has stored its event in this instance's cache, so each is classified
seeing the ones before it (a burst judged hit by hit, as a batch is), which separate reads
finishing a few milliseconds apart gave only by chance. The event document's insert-if-absent
keeps every hit counted once whatever the context showed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    """Thread-safe. A read that fails fails all who waited for it (each delivery retries)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Future[T]] = {}
        self.shared = 0
        """How many reads were answered by another's request (for the benches)."""

    def read(self, key: str, fetch: Callable[[], T]) -> T:
        """``fetch()``, or the answer of the ``fetch`` of ``key`` already on the wire."""
        with self._lock:
            flight = self._flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
            else:
                self.shared += 1
        if not leading:
            return flight.result()
        try:
            value = fetch()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._flights[key]
        flight.set_result(value)
        return value


TURN_PATIENCE = 1.0
"""Seconds a hit waits for the one before it to store its event, at most: one that never does
(an unknown message, a failure) holds the others up that long once."""


class Turns:
    """The hits of one message on an instance take turns from reading its context to storing
    their event (into this instance's cache, before the coalesced write): each is classified
    seeing the ones before it, as a batch is (``pipeline.process_hits``). A shared read hands
    one answer to many hits at once, and without turns a burst (a scanner walking the
    links) would be judged as if each hit came alone. Thread-safe; a turn is released by the
    thread that took it."""

    def __init__(self, patience: float = TURN_PATIENCE) -> None:
        self.patience = patience
        self._lock = threading.Lock()
        self._last: dict[str, threading.Event] = {}  # each message's latest turn
        self._held: dict[tuple[str, int], threading.Event] = {}
        self.waited = 0
        """How many turns waited for an earlier one (for the tests)."""

    def take(self, key: str) -> None:
        """Wait until the hit before (on this message) has stored its event, or patience."""
        me = threading.get_ident()
        turn = threading.Event()
        with self._lock:
            if len(self._held) > 10_000:  # turns never released (failures): forget them
                for stale in self._held.values():
                    stale.set()
                self._held.clear()
                self._last.clear()
            own = self._held.pop((key, me), None)
            if own is not None:  # this thread's earlier turn on it, never released
                own.set()
            before = self._last.get(key)
            self._last[key] = self._held[(key, me)] = turn
            if before is not None and before is not own and not before.is_set():
                self.waited += 1
            else:
                before = None
        if before is not None:
            before.wait(self.patience)

    def release(self, key: str) -> None:
        """This thread's hit on ``key`` stored its event (or will not): the next may go."""
        with self._lock:
            turn = self._held.pop((key, threading.get_ident()), None)
            if turn is None:
                return
            turn.set()
            if self._last.get(key) is turn:
                del self._last[key]

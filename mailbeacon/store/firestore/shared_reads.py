"""Reads of one document that overlap in time share one request.

The hits consumer runs many deliveries at once on an instance (concurrency 40): a burst on one
message (a newsletter opened by its recipients in the same minute) would otherwise read the
message document once per hit, each read the same document within milliseconds. A read that
starts while another of the same document is on the wire waits for that one's answer instead,
which is what it would have got had it arrived a moment earlier; what this instance itself
stored since is added by the caller (``DocumentCache.fresh``), and the event document's
insert-if-absent keeps every hit counted once whatever the context showed.
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

"""No hit lost on a failed publish: bounded retries, then the hit kept in the store, and a
sweep that republishes what was kept once the bus takes messages again.

The edge answers a recipient whatever happens, so its one durable write must not depend on
Pub/Sub alone. ``DurableHits`` is the bus the edge publishes hits to: a few attempts with a
short backoff, then the hit written to the store's records under its own id (insert-if-absent:
one record per hit however often it is kept). ``sweep`` republishes kept hits and forgets
them; processing is idempotent per hit id (the event's document is its hit's id), so a hit
that reached Pub/Sub and was kept as well (an answer lost after the publish succeeded), or
a sweep that dies between republishing and forgetting, still counts once.

In the cloud, Cloud Scheduler publishes ``SWEEP_PAYLOAD`` to the hits topic every few minutes
and process_hit sweeps when it receives it; `mailbeacon serve` in cluster mode sweeps from its
worker process (functions/jobs.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import BusUnavailable
from ..records import Namespace, Records
from . import HITS, Bus

log = logging.getLogger(__name__)

KEPT = Namespace.FALLBACK_HITS
SWEEP_PAYLOAD = {"sweep": "fallback-hits"}
"""What the scheduler publishes on the hits topic to have the kept hits republished."""
ROUND = 500
"""Hits republished per round of a sweep (one listing, one publish each, one delete each)."""


def is_sweep(payload: dict[str, Any]) -> bool:
    return payload.get("sweep") == SWEEP_PAYLOAD["sweep"]


class DurableHits:
    """A Bus for the edge: hits are published with bounded retries, then kept in the store;
    any other topic goes straight to ``bus``. ``records`` is called only when a hit must be
    kept, so the pixel's cold start never builds the store's client."""

    def __init__(
        self,
        bus: Bus,
        records: Callable[[], Records],
        *,
        attempts: int = 3,
        backoff: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus = bus
        self.records = records
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if topic != HITS:
            self.bus.publish(topic, payload)
            return
        failure: BusUnavailable | None = None
        for attempt in range(self.attempts):
            try:
                self.bus.publish(topic, payload)
                return
            except BusUnavailable as exc:
                failure = exc
            if attempt + 1 < self.attempts:
                self.sleep(self.backoff * 2**attempt)  # backoff between attempts
        try:
            self.records().add_record(KEPT, str(payload["id"]), payload)
        except Exception as exc:  # the store is down too: the edge reports it
            raise BusUnavailable(f"{failure}; keeping the hit failed too: {exc}") from exc
        log.warning(
            "hit %s kept in the store after %s failed publishes (%s); the sweep republishes it",
            payload.get("id"),
            self.attempts,
            failure,
        )


def sweep(records: Records, bus: Bus, *, rounds: int = 20) -> int:
    """Republish kept hits to the hits topic and forget each once published; returns how
    many. Stops at the first publish that fails (the next sweep goes on from there) and
    after ``rounds`` rounds of ``ROUND`` (a scheduled call has a deadline)."""
    moved = 0
    for _ in range(rounds):
        kept = records.list_records(KEPT, limit=ROUND)
        for key, payload in kept:
            bus.publish(HITS, payload)  # raises BusUnavailable: the rest stay kept
            records.delete_record(KEPT, key)
            moved += 1
        if len(kept) < ROUND:
            break
    if moved:
        log.info("republished %s hits kept while Pub/Sub was unavailable", moved)
    return moved

"""Background jobs `mailbeacon serve`'s worker process runs beside the bus worker.

In the cloud, Cloud Scheduler runs them instead: the digest through its Pub/Sub topic, the
due reminders through the same topic every five minutes (``{"job": "reminders"}``), the
Gmail watch renewal through ``POST /gmail/renew``; retention is Firestore's TTL policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from mailbeacon.bus import Bus
from mailbeacon.clock import Clock
from mailbeacon.policy import list_policies
from mailbeacon.records import Records
from mailbeacon.store import Housekeeping

log = logging.getLogger(__name__)

RETENTION_SWEEP_SECONDS = 3600.0
WATCH_RENEWAL_SECONDS = 86400.0


class Background(Protocol):
    """A thread the worker process runs beside the bus worker."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...


class Periodic:
    """Run ``run_once`` every ``every`` seconds on a daemon thread until stopped; a failed
    run is logged and the next one happens on time."""

    name = "job"
    every: float
    first_at_start = False

    def __init__(self) -> None:
        self._stop = threading.Event()

    def run_once(self) -> int:
        raise NotImplementedError

    def run(self) -> None:
        if self.first_at_start:
            self._once()
        while not self._stop.wait(self.every):
            self._once()

    def _once(self) -> None:
        try:
            self.run_once()
        except Exception:
            log.exception("%s failed", self.name)

    def start(self) -> Periodic:
        threading.Thread(target=self.run, daemon=True, name=self.name).start()
        return self

    def stop(self) -> None:
        self._stop.set()


class RetentionSweep(Periodic):
    """Enforce retention on the embedded store hourly (Firestore does it with a TTL policy)."""

    name = "retention sweep"

    def __init__(
        self,
        store: Housekeeping,
        records: Records,
        clock: Clock,
        every: float = RETENTION_SWEEP_SECONDS,
    ) -> None:
        super().__init__()
        self.store, self.records, self.clock, self.every = store, records, clock, every

    def run_once(self) -> int:
        return self.sweep()

    def sweep(self) -> int:
        """Delete expired events, and events older than each domain policy's retention."""
        now = self.clock.now()
        removed = self.store.purge_expired(now)
        for policy in list_policies(self.records):
            if policy.retention_days is not None:
                cutoff = now - timedelta(days=policy.retention_days)
                removed += self.store.purge_domain(policy.domain, cutoff)
        if removed:
            log.info("retention: removed %s expired events", removed)
        return removed


class FallbackSweep(Periodic):
    """Cluster mode: republish the hits the edge kept in the store while Pub/Sub refused them
    (mailbeacon.bus.fallback); in the cloud a Cloud Scheduler job asks process_hit to."""

    name = "fallback sweep"
    first_at_start = True

    def __init__(self, records: Records, bus: Bus, every: float) -> None:
        super().__init__()
        self.records, self.bus, self.every = records, bus, every

    def run_once(self) -> int:
        from mailbeacon.bus.fallback import sweep

        return sweep(self.records, self.bus)


class Every(Periodic):
    """One call, first at start and then every ``every`` seconds."""

    first_at_start = True

    def __init__(self, job: Callable[[], int], every: float) -> None:
        super().__init__()
        self.job, self.every = job, every

    def run_once(self) -> int:
        return self.job()


class WatchRenewal(Every):
    """Renew the Gmail sent-mail watches daily and mark drafts never sent (Gmail stops a
    watch after 7 days); in the cloud a Cloud Scheduler job calls ``POST /gmail/renew``."""

    name = "gmail watch renewal"

    def __init__(self, renew: Callable[[], int], every: float = WATCH_RENEWAL_SECONDS) -> None:
        super().__init__(renew, every)


class ReminderScan(Every):
    """Hand the reminders that fell due to the notifier (every 30 seconds by default,
    MAILBEACON_REMINDER_SCAN_SECONDS). Every process of a cluster may run it: each due time
    is handed over once (mailbeacon/reminders.py)."""

    name = "reminder scan"

"""The Store port on Firestore, for Mailbeacon in the customer's own Google Cloud project.

One module per part: client.py (the connection), docs.py (model <-> documents), coalesce.py
and cache.py (fewer writes and reads per hot document), days.py (day counters), messages.py,
pipeline.py with context.py (the one-read context, the one-commit event), reporting.py,
settings.py, records.py, housekeeping.py. Collections: ``messages``, ``events``, ``days``,
``settings``, ``recordsets/{namespace}/records``, each under an optional prefix.
"""

from __future__ import annotations

from typing import Any

from ...clock import Clock, SystemClock
from ..composite import Composite
from .cache import DocumentCache
from .client import Connection
from .days import DAYS_SLOWER, DayCounters
from .housekeeping import FirestoreHousekeeping
from .messages import FirestoreMessages
from .pipeline import RECENT_EVENTS, FirestorePipeline
from .records import FirestoreRecords
from .reporting import SEARCH_SCAN, FirestoreReporting
from .settings import FirestoreSettings


class FirestoreStore(Composite):
    """The Store port on Firestore, made of its parts. Takes a ready client, or makes one on
    first use (never at import: the pixel, which never touches the store, does not pay)."""

    def __init__(
        self,
        client: Any = None,
        *,
        project: str | None = None,
        database: str | None = None,
        prefix: str = "",
        settings_ttl: float = 60.0,
        flush_interval: float = 1.0,
        timeout: float = 20.0,
        search_scan: int = SEARCH_SCAN,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.connection = Connection(
            client, project=project, database=database, prefix=prefix, timeout=timeout
        )
        fs = self.connection
        cache = DocumentCache()
        days = DayCounters(fs, flush_interval=flush_interval * DAYS_SLOWER)
        settings = FirestoreSettings(fs, ttl=settings_ttl)
        messages = FirestoreMessages(fs, days, cache)
        super().__init__(
            messages=messages,
            pipeline=FirestorePipeline(
                fs, settings, days, cache, flush_interval=flush_interval, clock=self.clock
            ),
            reporting=FirestoreReporting(fs, search_scan=search_scan, clock=self.clock),
            settings=settings,
            records=FirestoreRecords(fs),
            housekeeping=FirestoreHousekeeping(fs, messages, settings, cache, days),
        )

    @property
    def client(self) -> Any:
        return self.connection.client

    @property
    def prefix(self) -> str:
        return self.connection.prefix

    def close(self) -> None:
        """Nothing to release: the client's channels close with the process."""


__all__ = [
    "RECENT_EVENTS",
    "Connection",
    "FirestoreHousekeeping",
    "FirestoreMessages",
    "FirestorePipeline",
    "FirestoreRecords",
    "FirestoreReporting",
    "FirestoreSettings",
    "FirestoreStore",
]

"""The embedded store: one SQLite file (database.py, with its migrations) and one part per port.

Every part shares the Database, so a caller's outer ``Database.write`` (the local bus's batch)
makes the writes of all of them one transaction.
"""

from __future__ import annotations

from ...clock import Clock, SystemClock
from ...model import Event
from ..composite import Composite
from .database import Database
from .housekeeping import SqliteHousekeeping
from .messages import SqliteMessages
from .migrations import MIGRATIONS
from .pipeline import SqlitePipeline
from .records import SqliteRecords
from .reporting import SqliteReporting
from .settings import SqliteSettings


class SqliteStore(Composite):
    """The Store port on SQLite, made of its parts."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        messages = SqliteMessages(db)
        settings = SqliteSettings(db)
        self.pipeline: SqlitePipeline  # the part itself: add_events is SQLite's own
        super().__init__(
            messages=messages,
            pipeline=SqlitePipeline(db, messages, settings, self.clock),
            reporting=SqliteReporting(db, self.clock),
            settings=settings,
            records=SqliteRecords(db),
            housekeeping=SqliteHousekeeping(db),
        )

    def add_events(self, events: list[Event]) -> int:
        """Many events in one transaction (bench/dashboard.py fills a store with it)."""
        return self.pipeline.add_events(events)

    def close(self) -> None:
        self.db.close()


__all__ = [
    "MIGRATIONS",
    "Database",
    "SqliteHousekeeping",
    "SqliteMessages",
    "SqlitePipeline",
    "SqliteRecords",
    "SqliteReporting",
    "SqliteSettings",
    "SqliteStore",
]

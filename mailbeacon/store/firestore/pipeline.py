"""The PipelineStore port on Firestore: classifying a hit costs one read, storing it one
coalesced commit.

- ``messages/{id}`` keeps ``recent``, a map of the message's latest events (what the
  classifier needs), and its self views, so get_context is one document read, shared by the
  hits of one message processed at the same moment (shared_reads.py).
- ``events/{event id}``: one document per classified hit, created once (insert-if-absent),
  with ``expires_at`` as the TTL field, by the same commit that adds the event to its
  message's summary (context.py), so a redelivered hit is stored and counted exactly once.
  It carries the event's live-feed entry as well (``live_key``, ``live``; see records.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ...clock import Clock, SystemClock
from ...model import Event, MessageContext, Strictness
from ..ports import CONTEXT_EVENTS
from .cache import DocumentCache
from .client import Connection
from .coalesce import Coalescer
from .context import ContextWriter, Pending, by_time
from .days import DayCounters
from .docs import event_from, from_doc_id, message_from, to_time
from .settings import FirestoreSettings
from .shared_reads import SharedReads, Turns

log = logging.getLogger(__name__)

RECENT_EVENTS = CONTEXT_EVENTS
"""How many of a message's latest events its document keeps for the classifier."""


class FirestorePipeline:
    """The message document's context writes go through a Coalescer (one a second at most)."""

    def __init__(
        self,
        fs: Connection,
        settings: FirestoreSettings,
        days: DayCounters,
        cache: DocumentCache,
        *,
        flush_interval: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.fs = fs
        self.settings = settings
        self.cache = cache
        self.clock = clock or SystemClock()
        self.recent = Coalescer(ContextWriter(fs, cache, days).write, interval=flush_interval)
        self.reads: SharedReads[Any] = SharedReads()
        self.turns = Turns()

    def add_event(
        self, event: Event, relabel: Sequence[Event] = (), *, live_at: datetime | None = None
    ) -> bool:
        """Store the event and count it in its message's summary, in one commit, exactly once.

        The event's document is created by the same coalesced commit that adds it to the
        message document's context and summary, so a document exists exactly when its event
        is counted: a delivery that finds it (Pub/Sub redelivers what a killed process held,
        or a retry follows a lost answer) adds nothing. The same commit relabels the events in
        ``relabel`` (their documents, their copies in ``recent``, the summary and the day
        counters). A failed write raises, so the delivery is retried rather than the hit lost
        or left uncounted. With ``live_at``, the event's document carries its live-feed entry
        too (records.py reads the feed from there): the feed costs no write of its own."""
        self.cache.add_fresh(event)
        for changed in relabel:
            self.cache.add_fresh(changed)
        self.turns.release(event.message_id)  # the next hit of the message sees this one
        pending = Pending(event, tuple(relabel), live_at)
        with self.fs.translated("add_event"):
            self.recent.submit(event.message_id, pending)
        return pending.created

    def get_context(self, message_id: str) -> MessageContext | None:
        """One read of the message document, or a share of one on the wire, then this hit's
        turn on the message (``Turns``: released by ``add_event``), so that the events this
        instance stored for the hits before it are in its context (the owner's strictness is
        read only when asked)."""

        def fetch() -> Any:
            with self.fs.translated("get_context"):
                return self.fs.message_ref(message_id).get(**self.fs.rpc)

        snap = self.reads.read(message_id, fetch)
        self.turns.take(message_id)
        if not snap.exists:
            self.turns.release(message_id)
            return None
        d = snap.to_dict()
        self.cache.remember(message_id, snap.update_time, d)
        message = message_from(message_id, d)
        now = self.clock.now()
        stored = {eid: event_from(eid, e) for eid, e in (d.get("recent") or {}).items()}
        recent = sorted({**self.cache.fresh(message_id), **stored}.values(), key=by_time)
        if len(recent) > RECENT_EVENTS:
            self.cache.trim_later(message_id, [e.id for e in recent[:-RECENT_EVENTS]])
        written = d.get("written_at")
        if written is not None:
            self.recent.written_elsewhere(message_id, written.timestamp())
        return MessageContext(
            message=message,
            earlier=tuple(
                e for e in recent[-RECENT_EVENTS:] if e.expires_at is None or e.expires_at > now
            ),
            self_views=tuple(sorted(to_time(t) for t in d.get("self_views") or ())),  # type: ignore[type-var]
            strictness=None,
        )

    def owner_strictness(self, owner: str) -> Strictness:
        return self.settings.strictness(owner)

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        from google.cloud.firestore import FieldFilter, Query

        # Newest first (one index serves both forms), then put back in time order.
        query = (
            self.fs.col("events")
            .where(filter=FieldFilter("message_id", "==", message_id))
            .order_by("at", direction=Query.DESCENDING)
        )
        if limit is not None:
            if limit <= 0:
                return []
            query = query.limit(limit)
        now = self.clock.now()
        with self.fs.translated("list_events"):
            snaps = list(query.stream(**self.fs.rpc))
        events = [event_from(from_doc_id(s.id), s.to_dict()) for s in reversed(snaps)]
        events.sort(key=lambda e: (e.at, e.id))  # ties in ``at``: by id, as the other stores
        return [e for e in events if e.expires_at is None or e.expires_at > now]

    def add_self_view(self, message_id: str, at: datetime) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud.firestore import SERVER_TIMESTAMP, ArrayUnion

        with self.fs.translated("add_self_view"):
            try:
                self.fs.message_ref(message_id).update(
                    {"self_views": ArrayUnion([at]), "written_at": SERVER_TIMESTAMP},
                    **self.fs.rpc,
                )
            except NotFound:
                log.info("self view for unknown message %s ignored", message_id)

    def list_self_views(self, message_id: str) -> list[datetime]:
        with self.fs.translated("list_self_views"):
            snap = self.fs.message_ref(message_id).get(field_paths=["self_views"], **self.fs.rpc)
        views = snap.to_dict().get("self_views") if snap.exists else None
        return sorted(to_time(t) for t in views or ())  # type: ignore[type-var]

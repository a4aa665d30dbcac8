"""The store's ports, one per kind of consumer: each asks only for what its users call.

A use case names the narrowest port it needs, so a reader sees what it may touch and a fake
for it stays small. ``Store`` is every port at once: only the composition root, which builds
an adapter, and the adapters themselves name it. Every method is safe to call from threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..model import Event, Link, Message, MessageContext, Settings, Strictness
from ..queries import EventKey, MessageQuery
from ..records import Records
from ..rollup import MessagePage, Summary

CONTEXT_EVENTS = 200
"""The latest events a classification may look back on."""


class MessageStore(Protocol):
    """Tracked messages: registered by tracking (services, the add-on), completed by the
    sent-mail watch (sentwatch.py), read wherever a message is shown or owned."""

    def add_message(self, message: Message) -> None:
        """Register a tracked message (with its links)."""

    def get_message(self, message_id: str) -> Message | None: ...

    def add_link(self, message_id: str, url: str) -> Link:
        """Append a tracked link to a message; raises UnknownMessage."""

    def mark_sent(self, message_id: str, at: datetime) -> None:
        """Record when the message left, if it was not known yet."""

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        """What Gmail says of the sent message (sentwatch.py): its real send time and final
        recipients replace the add-on's guess. An unknown message is left alone."""

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        """The owner's messages, newest first, created strictly before ``before``."""


class PipelineStore(Protocol):
    """What classifying hits reads and writes (services.process_hits), and the events and
    self-views that stats and the add-on's cards are made of."""

    def get_context(self, message_id: str) -> MessageContext | None:
        """What classifying a hit needs (message, earlier events, self views), in one read
        where the backend allows; its ``strictness`` is None (owner_strictness reads it).
        ``earlier`` holds the message's latest CONTEXT_EVENTS unexpired events, oldest first
        (on Firestore, as of the message document's last context write, about a second behind
        at most); None for an unknown message."""

    def owner_strictness(self, owner: str) -> Strictness:
        """The owner's strictness, asked for only when it decides a verdict (on Firestore a
        document read, kept a minute per process)."""

    def add_event(
        self, event: Event, relabel: Sequence[Event] = (), *, live_at: datetime | None = None
    ) -> bool:
        """Store an event once, counted into its message's summary and its owner's day
        counters: False if an event with that id was already stored.

        ``live_at``: a new event also enters its owner's live feed (mailbeacon.live) as
        processed at that time, in the same write where the backend can (Firestore keeps the
        feed in the event documents, so the feed costs no write of its own).

        ``relabel``: earlier events of the same message as hindsight now sees them (same ids,
        a machine verdict). In the same write, each one still stored as human is replaced and
        moved from the human counts to the machine ones (rollup.relabel_event), in the summary
        and the day counters; one already relabelled, or not stored, is left alone, so a
        redelivery changes nothing twice."""

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        """A message's unexpired events, oldest first; with ``limit``, only the latest ones.

        The pipeline reads a bounded window so that a message opened thousands of times does
        not make each new hit slower to process.
        """

    def add_self_view(self, message_id: str, at: datetime) -> None:
        """The sender opened their own sent copy at ``at`` (the add-on's contextual card)."""

    def list_self_views(self, message_id: str) -> list[datetime]:
        """The message's self views, oldest first."""


class ReportingStore(Protocol):
    """The dashboard's, the API's and the digest's reads: served from the summaries and day
    counters kept as events arrive, never by counting events."""

    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        """A page of the owner's messages with their summaries, filtered and sorted as asked,
        at most ``query.limit`` rows, and where the next page starts."""

    def get_summary(self, message_id: str) -> Summary | None:
        """A message's summary as kept by add_event; None for an unknown message."""

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        """Up to ``limit`` of a message's unexpired events, newest first, older than
        ``before``: the timeline, a page at a time."""

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        """The owner's daily counters (see rollup.DayCounts) for days ``first``..``last``
        (YYYY-MM-DD, inclusive); days without any are absent."""


class SettingsStore(Protocol):
    """A user's notification settings. settings.py is their only writer."""

    def get_settings(self, user: str) -> Settings:
        """A user's settings; defaults when the user never saved any."""

    def put_settings(self, settings: Settings) -> None:
        """Replace the user's settings whole."""

    def change_settings(self, user: str, change: Callable[[Settings], Settings]) -> Settings:
        """Read the user's settings, apply ``change`` and save its result as one atomic step
        (a transaction where the backend has them), so two writers in two processes (a user
        saving the form, the notifier recording a problem) never lose each other's change.
        ``change`` may run more than once (a retried transaction) and may raise to save
        nothing. Returns what was saved."""


@dataclass
class Removed:
    """What ``delete_user`` removed: the ids (records keyed by them go next) and counts."""

    message_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    settings: int = 0
    pending_hits: int = 0
    """Hits still waiting in the store's outbox (the embedded store's bus)."""


class Housekeeping(Protocol):
    """Deleting what must go: the retention sweep (expiry, a domain policy's retention) and a
    user's deletion (privacy.py). Summaries and counters follow what is deleted."""

    def purge_expired(self, now: datetime) -> int:
        """Delete events past their expiry; returns how many (Firestore leaves this to TTL)."""

    def purge_domain(self, domain: str, before: datetime) -> int:
        """Delete events earlier than ``before`` of messages sent from ``domain`` (its policy's
        retention); returns how many."""

    def delete_user(self, user: str) -> Removed:
        """Delete every message the user sent, with its links, events, self views, summary and
        counters, and the user's settings (records are the caller's: see privacy.py)."""

    def delete_message(self, message_id: str) -> Removed:
        """Delete one message with its links, events, self views and summary, and take what
        it added out of its owner's day counters (a replay of its events: the counters were
        moved by the same functions). Nothing for an unknown message."""


class MessageEvents(MessageStore, PipelineStore, Protocol):
    """A message with its events (Python has no intersection types): stats
    (services.get_stats), a user's export, the digest."""


class MessageFacts(MessageStore, PipelineStore, ReportingStore, Protocol):
    """A message with its summary and its events: `stats`, the export, the add-on's cards and
    the digest (every figure from the stored summary, the events for the timeline)."""


class MessageReports(MessageStore, ReportingStore, Protocol):
    """An owned message with its summary and timeline: the dashboard's and the API's message
    pages (reporting.message_detail), its CSV."""


class Store(
    MessageStore, PipelineStore, ReportingStore, SettingsStore, Records, Housekeeping, Protocol
):
    """One backend's every port: for the composition root, which hands each consumer its own,
    and for the adapters. The store answers the Records methods itself too (consumers that
    still take the whole store for both), and ``records`` is that part alone."""

    @property
    def records(self) -> Records:
        """The backend's Records part, an object of its own."""

    def close(self) -> None: ...


def assemble_context(
    messages: MessageStore, pipeline: PipelineStore, message_id: str
) -> MessageContext | None:
    """get_context from the finer methods, for stores where reads are cheap (SQLite, memory)."""
    message = messages.get_message(message_id)
    if message is None:
        return None
    return MessageContext(
        message=message,
        earlier=tuple(pipeline.list_events(message_id, limit=CONTEXT_EVENTS)),
        self_views=tuple(pipeline.list_self_views(message_id)),
        strictness=None,
    )


class RecordsPart:
    """The Records port answered by a store's ``records`` part, for a store that is handed
    whole to consumers that want records too (the composite and the memory store)."""

    records: Records

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        return self.records.get_record(namespace, key)

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        self.records.put_record(namespace, key, value)

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        return self.records.add_record(namespace, key, value)

    def delete_record(self, namespace: str, key: str) -> None:
        self.records.delete_record(namespace, key)

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        return self.records.list_records(namespace, prefix, limit=limit)

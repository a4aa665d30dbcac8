"""A Store made of one part per port, as the SQLite and Firestore adapters build it.

Each part is an object of its own that satisfies its port, so the composition root can hand a
consumer the part it uses (``store.records`` above all). The store answers every port's
methods too, by passing them to its parts, for the consumers that still take the whole store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from ..model import Event, Link, Message, MessageContext, Settings, Strictness
from ..queries import EventKey, MessageQuery
from ..records import Records
from ..rollup import MessagePage, Summary
from .ports import (
    Housekeeping,
    MessageStore,
    PipelineStore,
    RecordsPart,
    Removed,
    ReportingStore,
    SettingsStore,
)


class Composite(RecordsPart):
    """Every port, each answered by its own part."""

    def __init__(
        self,
        *,
        messages: MessageStore,
        pipeline: PipelineStore,
        reporting: ReportingStore,
        settings: SettingsStore,
        records: Records,
        housekeeping: Housekeeping,
    ) -> None:
        self.messages = messages
        self.pipeline = pipeline
        self.reporting = reporting
        self.settings = settings
        self.records = records
        self.housekeeping = housekeeping

    # MessageStore
    def add_message(self, message: Message) -> None:
        self.messages.add_message(message)

    def get_message(self, message_id: str) -> Message | None:
        return self.messages.get_message(message_id)

    def add_link(self, message_id: str, url: str) -> Link:
        return self.messages.add_link(message_id, url)

    def mark_sent(self, message_id: str, at: datetime) -> None:
        self.messages.mark_sent(message_id, at)

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        self.messages.record_sent(message_id, sent_at=sent_at, recipients=recipients)

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        return self.messages.list_messages(owner, limit=limit, before=before)

    # PipelineStore
    def get_context(self, message_id: str) -> MessageContext | None:
        return self.pipeline.get_context(message_id)

    def owner_strictness(self, owner: str) -> Strictness:
        return self.pipeline.owner_strictness(owner)

    def add_event(
        self, event: Event, relabel: Sequence[Event] = (), *, live_at: datetime | None = None
    ) -> bool:
        return self.pipeline.add_event(event, relabel, live_at=live_at)

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        return self.pipeline.list_events(message_id, limit=limit)

    def add_self_view(self, message_id: str, at: datetime) -> None:
        self.pipeline.add_self_view(message_id, at)

    def list_self_views(self, message_id: str) -> list[datetime]:
        return self.pipeline.list_self_views(message_id)

    # ReportingStore
    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        return self.reporting.query_messages(owner, query)

    def get_summary(self, message_id: str) -> Summary | None:
        return self.reporting.get_summary(message_id)

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        return self.reporting.list_events_page(message_id, before=before, limit=limit)

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        return self.reporting.day_counts(owner, first, last)

    # SettingsStore
    def get_settings(self, user: str) -> Settings:
        return self.settings.get_settings(user)

    def put_settings(self, settings: Settings) -> None:
        self.settings.put_settings(settings)

    def change_settings(self, user: str, change: Callable[[Settings], Settings]) -> Settings:
        return self.settings.change_settings(user, change)

    # Housekeeping
    def purge_expired(self, now: datetime) -> int:
        return self.housekeeping.purge_expired(now)

    def purge_domain(self, domain: str, before: datetime) -> int:
        return self.housekeeping.purge_domain(domain, before)

    def delete_user(self, user: str) -> Removed:
        return self.housekeeping.delete_user(user)

    def delete_message(self, message_id: str) -> Removed:
        return self.housekeeping.delete_message(message_id)

    def close(self) -> None:
        """Nothing to release unless the adapter says otherwise."""

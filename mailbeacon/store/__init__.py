"""The Store port: everything Mailbeacon keeps. SQLite is the embedded default; Firestore scales."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..model import Event, Link, Message, Settings


class Store(Protocol):
    """Persistence the services need, and no more. Every method is safe to call from threads."""

    def add_message(self, message: Message) -> None:
        """Register a tracked message (with its links)."""

    def get_message(self, message_id: str) -> Message | None: ...

    def add_link(self, message_id: str, url: str) -> Link:
        """Append a tracked link to a message; raises UnknownMessage."""

    def mark_sent(self, message_id: str, at: datetime) -> None:
        """Record when the message left, if it was not known yet."""

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        """The owner's messages, newest first, created strictly before ``before``."""

    def add_event(self, event: Event) -> bool:
        """Store an event once: False if an event with that id was already stored."""

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        """A message's unexpired events, oldest first; with ``limit``, only the latest ones.

        The pipeline reads a bounded window so that a message opened thousands of times does
        not make each new hit slower to process.
        """

    def add_self_view(self, message_id: str, at: datetime) -> None: ...

    def list_self_views(self, message_id: str) -> list[datetime]: ...

    def get_settings(self, user: str) -> Settings:
        """A user's settings; defaults when the user never saved any."""

    def put_settings(self, settings: Settings) -> None: ...

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Small documents for the edges (installations, DM spaces, delivery log)."""

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        """Insert if absent: False when the key exists. The building block of idempotency."""

    def delete_record(self, namespace: str, key: str) -> None: ...

    def list_records(self, namespace: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        """Records of a namespace whose key starts with ``prefix``, in key order."""

    def purge_expired(self, now: datetime) -> int:
        """Delete events past their expiry; returns how many (Firestore leaves this to TTL)."""

    def close(self) -> None: ...

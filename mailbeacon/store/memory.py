"""An in-memory Store: the fake that service tests run on. It passes the same contract suite."""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import UnknownMessage
from ..model import Event, Link, Message, MessageContext, Settings
from . import assemble_context


class MemoryStore:
    """The Store port in memory: the fake the service tests run on, and product code."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._messages: dict[str, Message] = {}
        self._events: dict[str, Event] = {}
        self._self_views: dict[str, list[datetime]] = {}
        self._settings: dict[str, Settings] = {}
        self._records: dict[tuple[str, str], dict[str, Any]] = {}

    def add_message(self, message: Message) -> None:
        with self._lock:
            self._messages[message.id] = message

    def get_message(self, message_id: str) -> Message | None:
        return self._messages.get(message_id)

    def add_link(self, message_id: str, url: str) -> Link:
        with self._lock:
            message = self._messages.get(message_id)
            if message is None:
                raise UnknownMessage(f"no tracked message {message_id!r}")
            link = Link(max((lk.index for lk in message.links), default=0) + 1, url)
            self._messages[message_id] = replace(message, links=(*message.links, link))
            return link

    def mark_sent(self, message_id: str, at: datetime) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None and message.sent_at is None:
                self._messages[message_id] = replace(message, sent_at=at)

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        with self._lock:
            mine = [
                m
                for m in self._messages.values()
                if m.owner == owner.lower() and (before is None or m.created_at < before)
            ]
        mine.sort(key=lambda m: (-m.created_at.timestamp(), m.id))
        return mine[:limit]

    def add_event(self, event: Event) -> bool:
        with self._lock:
            if event.id in self._events:
                return False
            self._events[event.id] = event
            return True

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        now = self.clock.now()
        with self._lock:
            found = [
                e
                for e in self._events.values()
                if e.message_id == message_id and (e.expires_at is None or e.expires_at > now)
            ]
        found.sort(key=lambda e: (e.at, e.id))
        return found if limit is None else found[len(found) - limit :] if limit else []

    def purge_expired(self, now: datetime) -> int:
        with self._lock:
            gone = [k for k, e in self._events.items() if e.expires_at and e.expires_at <= now]
            for key in gone:
                del self._events[key]
            return len(gone)

    def get_context(self, message_id: str) -> MessageContext | None:
        return assemble_context(self, message_id)

    def add_self_view(self, message_id: str, at: datetime) -> None:
        with self._lock:
            self._self_views.setdefault(message_id, []).append(at)

    def list_self_views(self, message_id: str) -> list[datetime]:
        return sorted(self._self_views.get(message_id, []))

    def get_settings(self, user: str) -> Settings:
        return self._settings.get(user.lower()) or Settings(user=user.lower())

    def put_settings(self, settings: Settings) -> None:
        with self._lock:
            self._settings[settings.user.lower()] = replace(settings, user=settings.user.lower())

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        value = self._records.get((namespace, key))
        return copy.deepcopy(value) if value is not None else None

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._records[(namespace, key)] = copy.deepcopy(value)

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        with self._lock:
            if (namespace, key) in self._records:
                return False
            self._records[(namespace, key)] = copy.deepcopy(value)
            return True

    def delete_record(self, namespace: str, key: str) -> None:
        with self._lock:
            self._records.pop((namespace, key), None)

    def list_records(self, namespace: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            found = [
                (k, copy.deepcopy(v))
                for (ns, k), v in self._records.items()
                if ns == namespace and k.startswith(prefix)
            ]
        return sorted(found, key=lambda kv: kv[0])

    def close(self) -> None:
        pass

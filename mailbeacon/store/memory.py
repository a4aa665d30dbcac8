"""An in-memory Store: the fake that service tests run on. It passes the same contract suites.

One module (it is small): the store keeps every port but Records, which is its own object.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from .. import live
from ..clock import Clock, SystemClock
from ..errors import UnknownMessage
from ..model import Event, Link, Message, MessageContext, Settings, Strictness
from ..queries import EventKey, MessageQuery, matches, search_text, time_key
from ..rollup import (
    DayCounts,
    MessagePage,
    MessageRow,
    Summary,
    apply_event,
    day_of,
    merge_days,
    message_added,
    page_of,
    reaches,
    relabel_stored,
)
from .ports import RecordsPart, Removed, assemble_context


class MemoryRecords:
    """The Records port in memory (copies in and out, so callers never share a dict)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], dict[str, Any]] = {}

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

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            found = [
                (k, copy.deepcopy(v))
                for (ns, k), v in self._records.items()
                if ns == namespace and k.startswith(prefix)
            ]
        return sorted(found, key=lambda kv: kv[0])[:limit]


class MemoryStore(RecordsPart):
    """The Store port in memory: the fake the service tests run on, and product code."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._messages: dict[str, Message] = {}
        self._events: dict[str, Event] = {}
        self._self_views: dict[str, list[datetime]] = {}
        self._settings: dict[str, Settings] = {}
        self.records = MemoryRecords()
        self._summaries: dict[str, Summary] = {}
        self._days: dict[str, DayCounts] = {}  # by owner
        self._devices: set[tuple[str, str]] = set()  # (message id, device) of human opens

    def add_message(self, message: Message) -> None:
        with self._lock:
            self._messages[message.id] = message
            self._summaries[message.id] = Summary()
            merge_days(self._days.setdefault(message.owner, {}), message_added(message))

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

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None:
                self._messages[message_id] = replace(
                    message, sent_at=sent_at, recipients=recipients
                )

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

    def add_event(
        self, event: Event, relabel: Sequence[Event] = (), *, live_at: datetime | None = None
    ) -> bool:
        added = self._add_event(event, relabel)
        message = self._messages.get(event.message_id)
        if added and live_at is not None and message is not None:
            live.append_quietly(self.records, message, event, live_at)
        return added

    def _add_event(self, event: Event, relabel: Sequence[Event]) -> bool:
        with self._lock:
            added = event.id not in self._events
            message = self._messages.get(event.message_id)
            if added:
                self._events[event.id] = event
            if added and message is not None:
                seen = (event.message_id, event.device)
                new_device = event.is_human and event.kind == "open" and seen not in self._devices
                if new_device:
                    self._devices.add(seen)
                summary, days = apply_event(
                    message, self._summaries[message.id], event, new_device=new_device
                )
                self._summaries[message.id] = summary
                merge_days(self._days.setdefault(message.owner, {}), days)
            for changed in relabel:
                self._relabel(changed)
            return added

    def _relabel(self, new: Event) -> None:
        """One stored human event as hindsight sees it now (caller holds the lock)."""
        old = self._events.get(new.id)
        message = self._messages.get(new.message_id)
        if old is None or message is None:
            return
        stored = (e for e in self._events.values() if e.message_id == message.id)
        moved = relabel_stored(message, self._summaries[message.id], old, new, stored)
        if moved is None:
            return
        summary, days, device_gone = moved
        self._events[new.id] = new
        if device_gone:
            self._devices.discard((message.id, old.device))
        self._summaries[message.id] = summary
        merge_days(self._days.setdefault(message.owner, {}), days)

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        newest_first = self.list_events(message_id)[::-1]
        if before is not None:
            newest_first = [e for e in newest_first if (e.at, e.id) < (before.at, before.id)]
        return newest_first[:limit]

    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        def key(m: Message) -> str:
            if query.sort == "activity":
                return time_key(self._summaries[m.id].last_activity_at)
            return time_key(m.reference_time)

        with self._lock:
            mine = [
                m
                for m in self._messages.values()
                if m.owner == owner.lower()
                and (not query.status or reaches(self._summaries[m.id].status, query.status))
                and matches(search_text(m.subject, m.recipients), query.q)
                and (query.since is None or m.reference_time >= query.since)
                and (query.until is None or m.reference_time < query.until)
            ]
            ascending = query.sort == "oldest"
            if query.after is not None:
                mine = [
                    m
                    for m in mine
                    if ((key(m), m.id) > query.after if ascending else (key(m), m.id) < query.after)
                ]
            mine.sort(key=lambda m: (key(m), m.id), reverse=not ascending)
            rows = [
                MessageRow(replace(m, links=()), self._summaries[m.id])
                for m in mine[: query.limit + 1]
            ]
        return page_of(rows, query)

    def get_summary(self, message_id: str) -> Summary | None:
        return self._summaries.get(message_id)

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        with self._lock:
            days = self._days.get(owner.lower(), {})
            return {d: dict(c) for d, c in days.items() if first <= d <= last}

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
            self._forget(gone)
            return len(gone)

    def _forget(self, event_ids: list[str]) -> None:
        """Drop events and rebuild their messages' summaries from what remains."""
        touched = {self._events.pop(key).message_id for key in event_ids}
        for message_id in touched:
            message = self._messages.get(message_id)
            if message is None:
                continue
            self._devices = {d for d in self._devices if d[0] != message_id}
            summary = Summary()
            for event in sorted(
                (e for e in self._events.values() if e.message_id == message_id),
                key=lambda e: (e.at, e.id),
            ):
                seen = (message_id, event.device)
                new_device = event.is_human and event.kind == "open" and seen not in self._devices
                if new_device:
                    self._devices.add(seen)
                summary, _ = apply_event(message, summary, event, new_device=new_device)
            self._summaries[message_id] = summary

    def purge_domain(self, domain: str, before: datetime) -> int:
        with self._lock:
            gone = [
                k
                for k, e in self._events.items()
                if e.at < before
                and (m := self._messages.get(e.message_id)) is not None
                and m.owner.rpartition("@")[2] == domain.lower()
            ]
            self._forget(gone)
            for owner, days in self._days.items():
                if owner.rpartition("@")[2] == domain.lower():
                    for day in [d for d in days if d < day_of(before)]:
                        del days[day]
            return len(gone)

    def delete_user(self, user: str) -> Removed:
        owner = user.lower()
        removed = Removed()
        with self._lock:
            removed.message_ids = sorted(m.id for m in self._messages.values() if m.owner == owner)
            mine = set(removed.message_ids)
            removed.event_ids = sorted(k for k, e in self._events.items() if e.message_id in mine)
            for key in removed.event_ids:
                del self._events[key]
            for message_id in mine:
                del self._messages[message_id]
                self._summaries.pop(message_id, None)
                self._self_views.pop(message_id, None)
            self._devices = {d for d in self._devices if d[0] not in mine}
            self._days.pop(owner, None)
            removed.settings = int(self._settings.pop(owner, None) is not None)
        return removed

    def delete_message(self, message_id: str) -> Removed:
        from ..summary import contribution

        removed = Removed()
        with self._lock:
            message = self._messages.pop(message_id, None)
            if message is None:
                return removed
            events = [e for e in self._events.values() if e.message_id == message_id]
            merge_days(self._days.setdefault(message.owner, {}), contribution(message, events), -1)
            for event in events:
                del self._events[event.id]
            self._summaries.pop(message_id, None)
            self._self_views.pop(message_id, None)
            self._devices = {d for d in self._devices if d[0] != message_id}
        removed.message_ids = [message_id]
        removed.event_ids = sorted(e.id for e in events)
        return removed

    def get_context(self, message_id: str) -> MessageContext | None:
        return assemble_context(self, self, message_id)

    def owner_strictness(self, owner: str) -> Strictness:
        return self.get_settings(owner).strictness

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

    def change_settings(self, user: str, change: Callable[[Settings], Settings]) -> Settings:
        with self._lock:
            updated = replace(change(self.get_settings(user)), user=user.lower())
            self._settings[user.lower()] = updated
            return updated

    def close(self) -> None:
        pass

"""The one commit that stores a batch of a message's new events: each event's document,
created, and the message document's context (``recent``) and summary, together; then the
owner's day counters.

Hot documents: each hit creates its own event document, and the message document is written
through a Coalescer, at most about once per second per message however many hits arrive (and
a second after any other process's write it has seen).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ... import live
from ...errors import StoreUnavailable
from ...model import Event, Message
from ...rollup import DayCounts, Summary, apply_event, merge_days, relabel_stored
from .cache import DocumentCache
from .client import Connection
from .days import DayCounters
from .docs import doc_id, event_data, event_from, message_from, summary_fields

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 400
"""Events per commit: each is one write, with the message document's, and a commit takes 500."""
COMMIT_ATTEMPTS = 8


@dataclass
class Pending:
    """An event waiting for its message's next write, with the earlier events hindsight
    relabels (``relabel``); ``created`` once that write made its document (False when the
    document existed: the hit was delivered before)."""

    event: Event
    relabel: tuple[Event, ...] = ()
    live_at: datetime | None = None
    created: bool = False


def by_time(event: Event) -> tuple[datetime, str]:
    return (event.at, event.id)


def live_fields(message: Message, event: Event, at: datetime) -> dict[str, Any]:
    """The live-feed entry an event's document carries: its key (mailbeacon.live's, so a
    range query on it reads an owner's feed in order) and the entry, as JSON."""
    return {
        "live_key": live.entry_key(message.owner, at, event.id),
        "live": json.dumps(live.entry(message, event)),
    }


class ContextWriter:
    """The Coalescer's flush for message documents (see ``write``)."""

    def __init__(self, fs: Connection, cache: DocumentCache, days: DayCounters) -> None:
        self.fs = fs
        self.cache = cache
        self.days = days

    def write(self, message_id: str, pending: list[Pending]) -> None:
        """One atomic commit for a batch of a message's new events, exactly once each.

        The summary needs the document's previous state, so the commit is conditional on the
        message document being unchanged since it was read, and creates only event documents
        that do not exist yet: optimistic concurrency, retried with the document read again
        when another process got there first. The first attempt uses the copy this process
        read for the hits' classification (get_context) or wrote last, and assumes none of
        the events is stored yet (a redelivered one makes the commit fail, and the next
        attempts read which are). Unique opens are judged against the devices in the
        message's ``recent`` window (its latest CONTEXT_EVENTS events)."""
        from google.api_core.exceptions import Conflict, FailedPrecondition

        if len(pending) > MAX_BATCH_EVENTS:  # a commit takes at most 500 writes
            self.write(message_id, pending[:MAX_BATCH_EVENTS])
            self.write(message_id, pending[MAX_BATCH_EVENTS:])
            return
        ref = self.fs.message_ref(message_id)
        first: dict[str, Pending] = {}  # one hit twice in a batch (delivered twice): once
        for p in pending:
            first.setdefault(p.event.id, p)
        events = [p.event for p in first.values()]
        relabels = [e for p in pending for e in p.relabel]
        refs = [self.fs.event_ref(e.id) for e in events]
        trims, seen = self.cache.take(message_id)
        there: set[str] = set()
        delivered_before = False
        done: tuple[str, DayCounts] | None = None
        created: set[str] = set()
        with self.fs.translated("update message context"):
            for attempt in range(COMMIT_ATTEMPTS):
                if seen is None:
                    snap = ref.get(**self.fs.rpc)
                    if not snap.exists:
                        break
                    seen = (snap.update_time, snap.to_dict())
                if delivered_before:  # some event is stored already: which ones?
                    found = self.fs.client.get_all(refs, field_paths=["kind"], **self.fs.rpc)
                    there = {s.id for s in found if s.exists}
                update_time, d = seen
                message = message_from(message_id, d)
                todo = [e for e in events if doc_id(e.id) not in there]
                update, done, after, moved, kept = self._update(message, d, todo, trims, relabels)
                batch = self.fs.client.batch()
                batch.update(
                    ref, update, option=self.fs.client.write_option(last_update_time=update_time)
                )
                for event in todo:  # as it ends up (a later hit may have relabelled it)
                    stored = after["recent"].get(event.id) or event_data(event)
                    live_at = first[event.id].live_at
                    if live_at is not None:
                        as_stored = kept.get(event.id, event)
                        stored = {**stored, **live_fields(message, as_stored, live_at)}
                    batch.create(self.fs.event_ref(event.id), stored)
                for event in moved:  # relabelled: stored before, written again only now
                    batch.update(
                        self.fs.event_ref(event.id),
                        {"verdict": event.verdict.value, "reasons": list(event.reasons)},
                    )
                try:
                    results = batch.commit(**self.fs.rpc)
                except Conflict:  # an event's document exists: it was delivered before
                    done, delivered_before = None, True
                    continue
                except FailedPrecondition:  # another process wrote the message meanwhile
                    done, seen = None, None
                    # Back off (not synchronisation): the other writer's commit is done.
                    time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
                    continue
                self.cache.remember(message_id, results[0].update_time, after)
                created = {e.id for e in todo}
                break
            else:
                raise StoreUnavailable(
                    f"message {message_id} changed under each of {COMMIT_ATTEMPTS} attempts"
                )
        for p in pending:
            p.created = p.event.id in created and first[p.event.id] is p
        if done is None:
            log.info("events for unknown message %s: not stored", message_id)
            return
        self.days.count(*done)

    def _update(
        self,
        message: Message,
        d: dict[str, Any],
        events: list[Event],
        trims: list[str],
        relabels: list[Event],
    ) -> tuple[
        dict[str, Any], tuple[str, DayCounts], dict[str, Any], list[Event], dict[str, Event]
    ]:
        """The message document's update for new events and relabellings, what they add to
        the day counters, the document as it will be after the update, the stored events
        whose documents the relabelling rewrites (one write each, only when it happens), and
        the events its ``recent`` map will hold (as the update leaves them)."""
        from google.cloud.firestore import DELETE_FIELD, SERVER_TIMESTAMP
        from google.cloud.firestore_v1.field_path import FieldPath

        summary = Summary.from_dict(d.get("summary"))
        recent = {eid: event_from(eid, e) for eid, e in (d.get("recent") or {}).items()}
        counted = set(recent)
        devices = {e.device for e in recent.values() if e.is_human and e.kind == "open"}
        days: DayCounts = {}
        for event in sorted(events, key=by_time):
            if event.id in counted:
                continue  # counted by an earlier attempt of this write
            new_device = event.is_human and event.kind == "open" and event.device not in devices
            if new_device:
                devices.add(event.device)
            summary, more = apply_event(message, summary, event, new_device=new_device)
            merge_days(days, more)
            recent[event.id] = event
        moved: list[Event] = []
        for new in relabels:
            relabelled = relabel_stored(message, summary, recent.get(new.id), new, recent.values())
            if relabelled is None:
                continue  # not in the window, or relabelled before: nothing moves twice
            summary, more, _ = relabelled
            recent[new.id] = new
            merge_days(days, more)
            if new.id in counted:
                moved.append(new)
        new_ids = {e.id for e in events} | {e.id for e in moved}
        update: dict[str, Any] = {
            FieldPath("recent", eid).to_api_repr(): event_data(recent[eid]) for eid in new_ids
        }
        data = {eid: event_data(e) for eid, e in recent.items()}
        for old_id in trims:
            update.setdefault(FieldPath("recent", old_id).to_api_repr(), DELETE_FIELD)
            data.pop(old_id, None)
            recent.pop(old_id, None)
        update["written_at"] = SERVER_TIMESTAMP
        update.update(summary_fields(summary))
        after = {**d, "recent": data, "summary": update["summary"]}
        return update, (message.owner, days), after, moved, recent

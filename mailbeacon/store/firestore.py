"""The Store port on Firestore, for Mailbeacon in the customer's own Google Cloud project.

Layout (every collection name takes an optional prefix, so tests and tenants never collide):
- ``messages/{id}``: the message, its links and self views, ``written_at`` (its last write),
  and ``recent``: a map of the message's latest events (what the classifier needs), so
  classifying a hit costs one read.
- ``events/{event id}``: one document per classified hit, created once (insert-if-absent),
  with ``expires_at`` as the TTL field, by the same commit that adds the event to its
  message's summary (so a redelivered hit is stored and counted exactly once).
- ``settings/{user}``, ``recordsets/{namespace}/records/{key}``.

Hot documents: each hit creates its own event document; the message document's ``recent`` map
is updated through a Coalescer, at most about once per second per message however many hits
arrive (and a second after any other process's write it has seen). google-cloud-firestore is
imported on first use, never at module import, so the pixel (which never touches the store)
does not pay for it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import Clock, SystemClock
from ..errors import StoreUnavailable, UnknownMessage
from ..model import Event, Link, Message, MessageContext, Settings, Strictness
from ..queries import EventKey, MessageQuery, matches, time_key
from ..rollup import (
    DayCounts,
    MessagePage,
    MessageRow,
    Summary,
    apply_event,
    merge_days,
    message_added,
    page_of,
)
from . import CONTEXT_EVENTS, Removed
from .coalesce import Coalescer
from .firestore_docs import (
    doc_id,
    event_data,
    event_from,
    message_from,
    successor,
    to_time,
)

log = logging.getLogger(__name__)

RECENT_EVENTS = CONTEXT_EVENTS
"""How many of a message's latest events its document keeps for the classifier."""

_MESSAGE_FIELDS = ["owner", "recipients", "subject", "created_at", "sent_at", "links"]
_ROW_FIELDS = ["owner", "recipients", "subject", "created_at", "sent_at", "summary"]
SEARCH_SCAN = 1000
"""Firestore cannot match substrings: a search reads at most this many messages per page and
hands back a cursor to go on from where it stopped."""


MAX_BATCH_EVENTS = 400
COMMIT_ATTEMPTS = 8
"""Events per commit: each is one write, with the message document's, and a commit takes 500."""


@dataclass
class _Pending:
    """An event waiting for its message's next write; ``created`` once that write made its
    document (False when the document existed: the hit was delivered before)."""

    event: Event
    created: bool = False


def _order(event: Event) -> tuple[datetime, str]:
    return (event.at, event.id)


class FirestoreStore:
    """The Store port on Firestore. Takes a ready client, or makes one on first use."""

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
        self._client_obj = client
        self._project = project
        self._database = database
        self.prefix = prefix
        self._lock = threading.Lock()
        self._settings_lock = threading.Lock()
        self._settings_ttl = settings_ttl
        self.timeout = timeout
        self.search_scan = search_scan
        self._rpc: dict[str, Any] = {}
        self._strictness: dict[str, tuple[float, Strictness]] = {}
        self._trim: dict[str, list[str]] = {}
        # Events this process created in the last few seconds, by message: a hit processed
        # while an earlier one waits for its coalesced context write still sees it.
        self._fresh: dict[str, list[tuple[float, Event]]] = {}
        self.recent = Coalescer(self._flush_recent, interval=flush_interval)
        # Day counters of one user take the hits of all their messages: coalesced per day too.
        self.days = Coalescer(self._flush_days, interval=flush_interval)
        # The message documents as this process last read or wrote them, with their update
        # time: the summary write that follows a hit's get_context needs no second read.
        self._seen: dict[str, tuple[Any, dict[str, Any]]] = {}

    # plumbing
    @property
    def client(self) -> Any:
        if self._client_obj is None:
            with self._lock:
                if self._client_obj is None:
                    from google.cloud import firestore

                    kwargs = {"database": self._database} if self._database else {}
                    self._client_obj = firestore.Client(project=self._project, **kwargs)
        if not self._rpc:
            from google.api_core.retry import Retry, if_transient_error

            # The client's default retry ignores the timeout and can wait minutes; a consumer
            # should rather fail soon and let Pub/Sub redeliver.
            retry = Retry(if_transient_error, 0.1, 2.0, 2.0, timeout=self.timeout)
            self._rpc = {"retry": retry, "timeout": self.timeout}
        return self._client_obj

    def _col(self, name: str) -> Any:
        return self.client.collection(self.prefix + name)

    def _message_ref(self, message_id: str) -> Any:
        return self._col("messages").document(doc_id(message_id))

    def _record_ref(self, namespace: str, key: str) -> Any:
        return (self._col("recordsets").document(doc_id(namespace)).collection("records")).document(
            doc_id(key)
        )

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Vendor errors become StoreUnavailable (transient: the caller may retry)."""
        from google.api_core import exceptions as gexc

        try:
            yield
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise StoreUnavailable(f"Firestore {what} failed: {exc}") from exc

    # messages
    def add_message(self, message: Message) -> None:
        from google.cloud.firestore import SERVER_TIMESTAMP

        data = {
            "owner": message.owner,
            "recipients": list(message.recipients),
            "subject": message.subject,
            "created_at": message.created_at,
            "sent_at": message.sent_at,
            "links": [{"index": link.index, "url": link.url} for link in message.links],
            "self_views": [],
            "recent": {},
            "written_at": SERVER_TIMESTAMP,  # every write of a message sets it: see Coalescer
            "status": "sent",
            "activity": "",
            "summary": Summary().to_dict(),
        }
        with self._translated("add_message"):
            self._message_ref(message.id).set(data, **self._rpc)
            self._add_days(message.owner, message_added(message))

    def _add_days(self, owner: str, days: DayCounts) -> None:
        """Day counters are incremented, never read-modified-written: no lost updates."""
        from google.cloud.firestore import Increment

        for day, counts in days.items():
            self._col("days").document(doc_id(f"{owner}|{day}")).set(
                {
                    "owner": owner,
                    "day": day,
                    "counts": {name: Increment(n) for name, n in counts.items()},
                },
                merge=True,
                **self._rpc,
            )

    def get_message(self, message_id: str) -> Message | None:
        with self._translated("get_message"):
            snap = self._message_ref(message_id).get(field_paths=_MESSAGE_FIELDS, **self._rpc)
        return message_from(message_id, snap.to_dict()) if snap.exists else None

    def add_link(self, message_id: str, url: str) -> Link:
        from google.cloud import firestore

        ref = self._message_ref(message_id)

        @firestore.transactional
        def append(transaction: Any) -> Link:
            snap = ref.get(field_paths=["links"], transaction=transaction)
            if not snap.exists:
                raise UnknownMessage(f"no tracked message {message_id!r}")
            links = snap.to_dict().get("links") or []
            link = Link(max((int(x["index"]) for x in links), default=0) + 1, url)
            links = [*links, {"index": link.index, "url": url}]
            transaction.update(ref, {"links": links, "written_at": firestore.SERVER_TIMESTAMP})
            return link

        with self._translated("add_link"):
            return append(self.client.transaction())

    def mark_sent(self, message_id: str, at: datetime) -> None:
        from google.api_core.exceptions import FailedPrecondition, NotFound
        from google.cloud.firestore import SERVER_TIMESTAMP

        ref = self._message_ref(message_id)
        with self._translated("mark_sent"):
            snap = ref.get(field_paths=["sent_at"], **self._rpc)
            if not snap.exists or snap.get("sent_at") is not None:
                return
            try:  # only if nobody changed the document since we looked
                ref.update(
                    {"sent_at": at, "written_at": SERVER_TIMESTAMP},
                    option=self.client.write_option(last_update_time=snap.update_time),
                    **self._rpc,
                )
            except (FailedPrecondition, NotFound):
                self.mark_sent(message_id, at)

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud.firestore import SERVER_TIMESTAMP

        with self._translated("record_sent"):
            try:
                self._message_ref(message_id).update(
                    {
                        "sent_at": sent_at,
                        "recipients": list(recipients),
                        "written_at": SERVER_TIMESTAMP,
                    },
                    **self._rpc,
                )
            except NotFound:
                log.info("sent mail for unknown message %s ignored", message_id)
        self._seen.pop(message_id, None)

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        from google.cloud.firestore import FieldFilter, Query

        query = self._col("messages").where(filter=FieldFilter("owner", "==", owner.lower()))
        if before is not None:
            query = query.where(filter=FieldFilter("created_at", "<", before))
        query = (
            query.order_by("created_at", direction=Query.DESCENDING)
            .select(_MESSAGE_FIELDS)
            .limit(limit)
        )
        with self._translated("list_messages"):
            return [
                message_from(self._unquote(s.id), s.to_dict()) for s in query.stream(**self._rpc)
            ]

    @staticmethod
    def _unquote(value: str) -> str:
        from urllib.parse import unquote

        return unquote(value)

    # events
    def add_event(self, event: Event) -> bool:
        """Store the event and count it in its message's summary, in one commit, exactly once.

        The event's document is created by the same coalesced commit that adds it to the
        message document's context and summary, so a document exists exactly when its event
        is counted: a delivery that finds it (Pub/Sub redelivers what a killed process held,
        or a retry follows a lost answer) adds nothing. A failed write raises, so the
        delivery is retried rather than the hit lost or left uncounted."""
        with self._lock:
            self._fresh.setdefault(event.message_id, []).append((time.monotonic(), event))
        pending = _Pending(event)
        with self._translated("add_event"):
            self.recent.submit(event.message_id, pending)
        return pending.created

    def _remember(self, message_id: str, update_time: Any, d: dict[str, Any]) -> None:
        """Keep the newest copy: a read that started before this process's own write may
        finish after it, and its older copy would make the next write's condition fail."""
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            known = self._seen.get(message_id)
            if known is None or known[0] is None or update_time >= known[0]:
                self._seen[message_id] = (update_time, d)

    def _flush_recent(self, message_id: str, pending: list[_Pending]) -> None:
        """One atomic commit for a batch of a message's new events: each event's document,
        created, and the message document's context (``recent``) and summary; then the
        owner's day counters.

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
            self._flush_recent(message_id, pending[:MAX_BATCH_EVENTS])
            self._flush_recent(message_id, pending[MAX_BATCH_EVENTS:])
            return
        ref = self._message_ref(message_id)
        first: dict[str, _Pending] = {}  # one hit twice in a batch (delivered twice): once
        for p in pending:
            first.setdefault(p.event.id, p)
        events = [p.event for p in first.values()]
        refs = [self._event_ref(e.id) for e in events]
        with self._lock:
            trims = self._trim.pop(message_id, [])
            seen = self._seen.pop(message_id, None)
        there: set[str] = set()
        delivered_before = False
        done: tuple[str, DayCounts] | None = None
        created: set[str] = set()
        with self._translated("update message context"):
            for attempt in range(COMMIT_ATTEMPTS):
                if seen is None:
                    snap = ref.get(**self._rpc)
                    if not snap.exists:
                        break
                    seen = (snap.update_time, snap.to_dict())
                if delivered_before:  # some event is stored already: which ones?
                    found = self.client.get_all(refs, field_paths=["kind"], **self._rpc)
                    there = {s.id for s in found if s.exists}
                update_time, d = seen
                todo = [e for e in events if doc_id(e.id) not in there]
                update, done, after = self._summary_update(message_id, d, todo, trims)
                batch = self.client.batch()
                batch.update(
                    ref, update, option=self.client.write_option(last_update_time=update_time)
                )
                for event in todo:
                    batch.create(self._event_ref(event.id), event_data(event))
                try:
                    results = batch.commit(**self._rpc)
                except Conflict:  # an event's document exists: it was delivered before
                    done, delivered_before = None, True
                    continue
                except FailedPrecondition:  # another process wrote the message meanwhile
                    done, seen = None, None
                    # Back off (not synchronisation): the other writer's commit is done.
                    time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
                    continue
                self._remember(message_id, results[0].update_time, after)
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
        owner, days = done
        for day, counts in days.items():
            try:
                self.days.submit((owner, day), counts)
            except Exception as exc:  # the summary is written: redelivering would not help
                log.error("day counters of %s for %s missed a batch: %s", owner, day, exc)

    def _event_ref(self, event_id: str) -> Any:
        return self._col("events").document(doc_id(event_id))

    def _summary_update(
        self, message_id: str, d: dict[str, Any], events: list[Event], trims: list[str]
    ) -> tuple[dict[str, Any], tuple[str, DayCounts], dict[str, Any]]:
        """The message document's update for new events, what they add to the day counters,
        and the document as it will be after the update."""
        from google.cloud.firestore import DELETE_FIELD, SERVER_TIMESTAMP
        from google.cloud.firestore_v1.field_path import FieldPath

        message = message_from(message_id, d)
        summary = Summary.from_dict(d.get("summary"))
        recent = dict(d.get("recent") or {})
        devices = {
            event_from(eid, e).device
            for eid, e in recent.items()
            if e.get("kind") == "open" and e.get("verdict") == "human"
        }
        days: DayCounts = {}
        for event in sorted(events, key=_order):
            if event.id in recent:
                continue  # counted by an earlier attempt of this write
            new_device = event.is_human and event.kind == "open" and event.device not in devices
            if new_device:
                devices.add(event.device)
            summary, more = apply_event(message, summary, event, new_device=new_device)
            merge_days(days, more)
        update: dict[str, Any] = {
            FieldPath("recent", e.id).to_api_repr(): event_data(e) for e in events
        }
        for e in events:
            recent[e.id] = event_data(e)
        for old in trims:
            update.setdefault(FieldPath("recent", old).to_api_repr(), DELETE_FIELD)
            recent.pop(old, None)
        update["written_at"] = SERVER_TIMESTAMP
        update["summary"] = summary.to_dict()
        update["status"] = summary.status
        update["activity"] = time_key(summary.last_activity_at)
        after = {**d, "recent": recent, "summary": update["summary"]}
        return update, (message.owner, days), after

    def _flush_days(self, key: tuple[str, str], batches: list[dict[str, int]]) -> None:
        owner, day = key
        merged: dict[str, int] = {}
        for counts in batches:
            for name, n in counts.items():
                merged[name] = merged.get(name, 0) + n
        self._add_days(owner, {day: merged})

    def list_events(self, message_id: str, *, limit: int | None = None) -> list[Event]:
        from google.cloud.firestore import FieldFilter, Query

        # Newest first (one index serves both forms), then put back in time order.
        query = (
            self._col("events")
            .where(filter=FieldFilter("message_id", "==", message_id))
            .order_by("at", direction=Query.DESCENDING)
        )
        if limit is not None:
            if limit <= 0:
                return []
            query = query.limit(limit)
        now = self.clock.now()
        with self._translated("list_events"):
            snaps = list(query.stream(**self._rpc))
        events = [event_from(self._unquote(s.id), s.to_dict()) for s in reversed(snaps)]
        events.sort(key=lambda e: (e.at, e.id))  # ties in ``at``: by id, as the other stores
        return [e for e in events if e.expires_at is None or e.expires_at > now]

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        """One query of ``limit`` documents (plus one read of the cursor's event)."""
        from google.cloud.firestore import FieldFilter, Query

        query = (
            self._col("events")
            .where(filter=FieldFilter("message_id", "==", message_id))
            .order_by("at", direction=Query.DESCENDING)
            .order_by("__name__", direction=Query.DESCENDING)
        )
        now = self.clock.now()
        with self._translated("list_events_page"):
            if before is not None:
                cursor = self._col("events").document(doc_id(before.id)).get(**self._rpc)
                if not cursor.exists:
                    return []
                query = query.start_after(cursor)
            snaps = list(query.limit(limit).stream(**self._rpc))
        events = [event_from(self._unquote(s.id), s.to_dict()) for s in snaps]
        return [e for e in events if e.expires_at is None or e.expires_at > now]

    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        """One query of ``limit + 1`` message documents; with ``q``, up to SEARCH_SCAN."""
        from google.cloud.firestore import FieldFilter, Query

        base = self._col("messages").where(filter=FieldFilter("owner", "==", owner.lower()))
        if query.status:
            base = base.where(filter=FieldFilter("status", "==", query.status))
        if query.since:
            base = base.where(filter=FieldFilter("created_at", ">=", query.since))
        if query.until:
            base = base.where(filter=FieldFilter("created_at", "<", query.until))
        field = "activity" if query.sort == "activity" else "created_at"
        direction = Query.ASCENDING if query.sort == "oldest" else Query.DESCENDING
        base = base.order_by(field, direction=direction).order_by("__name__", direction=direction)
        base = base.select(_ROW_FIELDS)
        after = query.after
        wanted = query.limit + 1
        rows: list[MessageRow] = []
        scanned = 0
        exhausted = False
        while len(rows) < wanted and scanned < (self.search_scan if query.q else wanted):
            page = base
            if after is not None:
                key, last_id = after
                value: Any = key if field == "activity" else datetime.fromisoformat(key)
                page = page.start_after({field: value, "__name__": self._message_ref(last_id)})
            batch = wanted if not query.q else min(200, self.search_scan - scanned)
            with self._translated("query_messages"):
                snaps = list(page.limit(batch).stream(**self._rpc))
            scanned += len(snaps)
            for snap in snaps:
                d = snap.to_dict()
                message = message_from(self._unquote(snap.id), {**d, "links": []})
                after = (
                    d.get("activity") or ""
                    if field == "activity"
                    else time_key(message.created_at),
                    message.id,
                )
                if matches(message.subject + "\n" + "\n".join(message.recipients), query.q):
                    rows.append(MessageRow(message, Summary.from_dict(d.get("summary"))))
                    if len(rows) == wanted:
                        break
            if len(snaps) < batch:
                exhausted = True
                break
        if len(rows) < wanted and not exhausted:
            return MessagePage(rows, after)  # the search's budget ran out: go on from here
        return page_of(rows, query)

    def get_summary(self, message_id: str) -> Summary | None:
        with self._translated("get_summary"):
            snap = self._message_ref(message_id).get(field_paths=["summary"], **self._rpc)
        return Summary.from_dict(snap.to_dict().get("summary")) if snap.exists else None

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        """One query: a document per day that had any activity."""
        from google.cloud.firestore import FieldFilter

        query = (
            self._col("days")
            .where(filter=FieldFilter("owner", "==", owner.lower()))
            .where(filter=FieldFilter("day", ">=", first))
            .where(filter=FieldFilter("day", "<=", last))
        )
        with self._translated("day_counts"):
            return {
                s.get("day"): {k: int(v) for k, v in (s.to_dict().get("counts") or {}).items()}
                for s in query.stream(**self._rpc)
            }

    def get_context(self, message_id: str) -> MessageContext | None:
        """One read of the message document; the owner's strictness comes from a short cache."""
        with self._translated("get_context"):
            snap = self._message_ref(message_id).get(**self._rpc)
        if not snap.exists:
            return None
        d = snap.to_dict()
        self._remember(message_id, snap.update_time, d)
        message = message_from(message_id, d)
        now = self.clock.now()
        stored = {eid: event_from(eid, e) for eid, e in (d.get("recent") or {}).items()}
        recent = sorted({**self._fresh_events(message_id), **stored}.values(), key=_order)
        if len(recent) > RECENT_EVENTS:
            with self._lock:
                self._trim[message_id] = [e.id for e in recent[:-RECENT_EVENTS]]
        written = d.get("written_at")
        if written is not None:
            self.recent.written_elsewhere(message_id, written.timestamp())
        return MessageContext(
            message=message,
            earlier=tuple(
                e for e in recent[-RECENT_EVENTS:] if e.expires_at is None or e.expires_at > now
            ),
            self_views=tuple(sorted(to_time(t) for t in d.get("self_views") or ())),  # type: ignore[type-var]
            strictness=self._owner_strictness(message.owner),
        )

    def _fresh_events(self, message_id: str, keep: float = 10.0) -> dict[str, Event]:
        horizon = time.monotonic() - keep
        with self._lock:
            for key in [k for k, v in self._fresh.items() if v[-1][0] < horizon]:
                del self._fresh[key]
            kept = [(t, e) for t, e in self._fresh.get(message_id, ()) if t >= horizon]
            if kept:
                self._fresh[message_id] = kept
        return {e.id: e for _, e in kept}

    def _owner_strictness(self, owner: str) -> Strictness:
        """Settings change rarely; a minute's staleness saves a read on every hit."""

        def fresh() -> Strictness | None:
            cached = self._strictness.get(owner)
            if cached is not None and time.monotonic() - cached[0] < self._settings_ttl:
                return cached[1]
            return None

        if (known := fresh()) is not None:
            return known
        with self._settings_lock:  # one read per owner, however many hits arrive at once
            if (known := fresh()) is not None:
                return known
            strictness = self.get_settings(owner).strictness
            self._strictness[owner] = (time.monotonic(), strictness)
            return strictness

    def purge_expired(self, now: datetime) -> int:
        """Firestore's TTL policy on ``events.expires_at`` deletes expired events (within a
        day); reads already hide them. Nothing to do here."""
        return 0

    def purge_domain(self, domain: str, before: datetime) -> int:
        """One query of the events older than ``before`` (all domains: Firestore cannot match
        an owner's domain), each message's owner read once; the domain's are deleted."""
        from google.api_core.exceptions import NotFound
        from google.cloud.firestore import DELETE_FIELD, FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self._col("events").where(filter=FieldFilter("at", "<", before))
        owners: dict[str, str | None] = {}
        doomed = []
        by_message: dict[str, list[str]] = {}
        with self._translated("purge_domain"):
            for snap in query.select(["message_id"]).stream(**self._rpc):
                message_id = snap.get("message_id")
                if message_id not in owners:
                    message = self.get_message(message_id)
                    owners[message_id] = message.owner if message else None
                owner = owners[message_id]
                if owner is not None and owner.rpartition("@")[2] == domain.lower():
                    doomed.append(snap.reference)
                    by_message.setdefault(message_id, []).append(self._unquote(snap.id))
            self._delete_all(doomed)
            # The copies in each message's ``recent`` map (the classifier's context) go too.
            for message_id, ids in by_message.items():
                update = {FieldPath("recent", i).to_api_repr(): DELETE_FIELD for i in ids}
                with suppress(NotFound):
                    self._message_ref(message_id).update(update, **self._rpc)
                self._seen.pop(message_id, None)
                gone = set(ids)
                with self._lock:
                    kept = [(t, e) for t, e in self._fresh.get(message_id, ()) if e.id not in gone]
                    if kept:
                        self._fresh[message_id] = kept
                    else:
                        self._fresh.pop(message_id, None)
        return len(doomed)

    def _delete_all(self, refs: list[Any]) -> None:
        """Delete documents in batches of at most 400 writes (Firestore's limit is 500)."""
        for start in range(0, len(refs), 400):
            batch = self.client.batch()
            for ref in refs[start : start + 400]:
                batch.delete(ref)
            batch.commit(**self._rpc)

    def delete_user(self, user: str) -> Removed:
        from google.cloud.firestore import FieldFilter

        owner = user.lower()
        removed = Removed()
        doomed = []
        with self._translated("delete_user"):
            by_owner = FieldFilter("owner", "==", owner)
            for snap in self._col("messages").where(filter=by_owner).select([]).stream(**self._rpc):
                message_id = self._unquote(snap.id)
                removed.message_ids.append(message_id)
                events = self._col("events").where(
                    filter=FieldFilter("message_id", "==", message_id)
                )
                for event in events.select([]).stream(**self._rpc):
                    removed.event_ids.append(self._unquote(event.id))
                    doomed.append(event.reference)
                doomed.append(snap.reference)
            days = self._col("days").where(filter=by_owner).select([]).stream(**self._rpc)
            doomed += [day.reference for day in days]
            settings = self._col("settings").document(doc_id(owner))
            removed.settings = int(settings.get(field_paths=[], **self._rpc).exists)
            doomed.append(settings)
            self._delete_all(doomed)
        with self._lock:
            for message_id in removed.message_ids:
                self._seen.pop(message_id, None)
                self._fresh.pop(message_id, None)
        self._strictness.pop(owner, None)
        removed.message_ids.sort()
        removed.event_ids.sort()
        return removed

    # self views
    def add_self_view(self, message_id: str, at: datetime) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud.firestore import SERVER_TIMESTAMP, ArrayUnion

        with self._translated("add_self_view"):
            try:
                self._message_ref(message_id).update(
                    {"self_views": ArrayUnion([at]), "written_at": SERVER_TIMESTAMP}, **self._rpc
                )
            except NotFound:
                log.info("self view for unknown message %s ignored", message_id)

    def list_self_views(self, message_id: str) -> list[datetime]:
        with self._translated("list_self_views"):
            snap = self._message_ref(message_id).get(field_paths=["self_views"], **self._rpc)
        views = snap.to_dict().get("self_views") if snap.exists else None
        return sorted(to_time(t) for t in views or ())  # type: ignore[type-var]

    # settings
    def get_settings(self, user: str) -> Settings:
        with self._translated("get_settings"):
            snap = self._col("settings").document(doc_id(user.lower())).get(**self._rpc)
        if not snap.exists:
            return Settings(user=user.lower())
        return Settings.from_dict(json.loads(snap.get("json")))

    def put_settings(self, settings: Settings) -> None:
        user = settings.user.lower()
        data = {**settings.to_dict(), "user": user}
        with self._translated("put_settings"):
            self._col("settings").document(doc_id(user)).set(
                {"json": json.dumps(data)}, **self._rpc
            )
        self._strictness.pop(user, None)

    # records
    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        with self._translated("get_record"):
            snap = self._record_ref(namespace, key).get(**self._rpc)
        return json.loads(snap.get("json")) if snap.exists else None

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        with self._translated("put_record"):
            self._record_ref(namespace, key).set(
                {"key": key, "json": json.dumps(value)}, **self._rpc
            )

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        with self._translated("add_record"):
            try:
                self._record_ref(namespace, key).create(
                    {"key": key, "json": json.dumps(value)}, **self._rpc
                )
            except AlreadyExists:
                return False
        return True

    def delete_record(self, namespace: str, key: str) -> None:
        with self._translated("delete_record"):
            self._record_ref(namespace, key).delete(**self._rpc)

    def list_records(self, namespace: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        from google.cloud.firestore import FieldFilter

        query = self._col("recordsets").document(doc_id(namespace)).collection("records")
        if prefix:
            query = query.where(filter=FieldFilter("key", ">=", prefix))
            upper = successor(prefix)
            if upper is not None:
                query = query.where(filter=FieldFilter("key", "<", upper))
        query = query.order_by("key")
        with self._translated("list_records"):
            found = [(s.get("key"), json.loads(s.get("json"))) for s in query.stream(**self._rpc)]
        return [(k, v) for k, v in found if k.startswith(prefix)]

    def close(self) -> None:
        """Nothing to release: the client's channels close with the process."""

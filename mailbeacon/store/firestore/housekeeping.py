"""The Housekeeping port on Firestore: expiry is Firestore's TTL policy on
``events.expires_at``; a domain's retention and a user's deletion are queries and batched
deletes. The counters keep their history (docs/dashboard.md)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from ...daycounts import merge_days
from ...records import Namespace
from ...summary import contribution
from ..ports import MessageStore, Removed
from .cache import DocumentCache
from .client import Connection
from .days import DayCounters
from .docs import doc_id, event_from, from_doc_id, message_from
from .settings import FirestoreSettings


class FirestoreHousekeeping:
    """Forgets in this process's caches what it deletes, so no stale copy brings it back."""

    def __init__(
        self,
        fs: Connection,
        messages: MessageStore,
        settings: FirestoreSettings,
        cache: DocumentCache,
        days: DayCounters,
    ) -> None:
        self.fs = fs
        self.messages = messages
        self.settings = settings
        self.cache = cache
        self.days = days

    def purge_expired(self, now: datetime) -> int:
        """Firestore's TTL policy on ``events.expires_at`` deletes expired events (within a
        day); reads already hide them. What earlier versions kept of the live feed as records
        (now inside the event documents, records.py) is deleted here: nothing reads or sweeps
        it any more, and it names recipients. Once gone, this costs two empty queries."""
        for namespace in (Namespace.LIVE_EVENTS, Namespace.LIVE_SWEPT):
            query = self.fs.records(namespace).select([]).limit(400)
            with self.fs.translated("purge the old live feed"):
                while refs := [snap.reference for snap in query.stream(**self.fs.rpc)]:
                    self.fs.delete_all(refs)
        return 0

    def purge_domain(self, domain: str, before: datetime) -> int:
        """One query of the events older than ``before`` (all domains: Firestore cannot match
        an owner's domain), each message's owner read once; the domain's are deleted."""
        from google.api_core.exceptions import NotFound
        from google.cloud.firestore import DELETE_FIELD, FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self.fs.col("events").where(filter=FieldFilter("at", "<", before))
        owners: dict[str, str | None] = {}
        doomed = []
        by_message: dict[str, list[str]] = {}
        with self.fs.translated("purge_domain"):
            for snap in query.select(["message_id"]).stream(**self.fs.rpc):
                message_id = snap.get("message_id")
                if message_id not in owners:
                    message = self.messages.get_message(message_id)
                    owners[message_id] = message.owner if message else None
                owner = owners[message_id]
                if owner is not None and owner.rpartition("@")[2] == domain.lower():
                    doomed.append(snap.reference)
                    by_message.setdefault(message_id, []).append(from_doc_id(snap.id))
            self.fs.delete_all(doomed)
            # The copies in each message's ``recent`` map (the classifier's context) go too.
            for message_id, ids in by_message.items():
                update = {FieldPath("recent", i).to_api_repr(): DELETE_FIELD for i in ids}
                with suppress(NotFound):
                    self.fs.message_ref(message_id).update(update, **self.fs.rpc)
                self.cache.stale(message_id)
                self.cache.drop_fresh(message_id, set(ids))
        return len(doomed)

    def delete_user(self, user: str) -> Removed:
        from google.cloud.firestore import FieldFilter

        owner = user.lower()
        removed = Removed()
        doomed = []
        with self.fs.translated("delete_user"):
            by_owner = FieldFilter("owner", "==", owner)
            messages = self.fs.col("messages").where(filter=by_owner).select([])
            for snap in messages.stream(**self.fs.rpc):
                message_id = from_doc_id(snap.id)
                removed.message_ids.append(message_id)
                events = self.fs.col("events").where(
                    filter=FieldFilter("message_id", "==", message_id)
                )
                for event in events.select([]).stream(**self.fs.rpc):
                    removed.event_ids.append(from_doc_id(event.id))
                    doomed.append(event.reference)
                doomed.append(snap.reference)
            days = self.fs.col("days").where(filter=by_owner).select([]).stream(**self.fs.rpc)
            doomed += [day.reference for day in days]
            settings = self.fs.col("settings").document(doc_id(owner))
            removed.settings = int(settings.get(field_paths=[], **self.fs.rpc).exists)
            doomed.append(settings)
            self.fs.delete_all(doomed)
        for message_id in removed.message_ids:
            self.cache.forget(message_id)
        self.settings.forget(owner)
        removed.message_ids.sort()
        removed.event_ids.sort()
        return removed

    def delete_message(self, message_id: str) -> Removed:
        """The message's events (one query) and documents deleted, what they added to the day
        counters taken out by negative increments. Events Firestore's TTL already removed
        stay in the counters, as they do for every message (docs/dashboard.md)."""
        from google.cloud.firestore import FieldFilter

        removed = Removed()
        ref = self.fs.message_ref(message_id)
        with self.fs.translated("delete_message"):
            snap = ref.get(**self.fs.rpc)
            if not snap.exists:
                return removed
            message = message_from(message_id, snap.to_dict())
            query = self.fs.col("events").where(filter=FieldFilter("message_id", "==", message_id))
            snaps = list(query.stream(**self.fs.rpc))
            events = [event_from(from_doc_id(s.id), s.to_dict()) for s in snaps]
            self.fs.delete_all([s.reference for s in snaps] + [ref])
            taken = contribution(message, events)
            self.days.add(message.owner, merge_days({}, taken, -1))
        self.cache.forget(message_id)
        removed.message_ids = [message_id]
        removed.event_ids = sorted(e.id for e in events)
        return removed

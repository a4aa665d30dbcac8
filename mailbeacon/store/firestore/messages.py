"""The MessageStore port on Firestore: ``messages/{id}`` holds the message and its links.

The same document carries the classifier's context and the summary (pipeline.py, context.py);
every write of it sets ``written_at``, which tells other processes' coalescers it was written.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ...errors import UnknownMessage
from ...model import Link, Message
from ...rollup import Summary, message_added
from .cache import DocumentCache
from .client import Connection
from .days import DayCounters
from .docs import from_doc_id, message_from, summary_fields

log = logging.getLogger(__name__)

MESSAGE_FIELDS = ["owner", "recipients", "subject", "created_at", "sent_at", "links"]
"""What a Message is read from: never the context or the summary, which can be large."""


class FirestoreMessages:
    """Writes go to the message document; a new message counts on its owner's day."""

    def __init__(self, fs: Connection, days: DayCounters, cache: DocumentCache) -> None:
        self.fs = fs
        self.days = days
        self.cache = cache

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
            "sent": message.reference_time,  # what the list shows, orders and filters by
            **summary_fields(Summary()),
        }
        with self.fs.translated("add_message"):
            self.fs.message_ref(message.id).set(data, **self.fs.rpc)
            self.days.add(message.owner, message_added(message))

    def get_message(self, message_id: str) -> Message | None:
        with self.fs.translated("get_message"):
            snap = self.fs.message_ref(message_id).get(field_paths=MESSAGE_FIELDS, **self.fs.rpc)
        return message_from(message_id, snap.to_dict()) if snap.exists else None

    def add_link(self, message_id: str, url: str) -> Link:
        from google.cloud import firestore

        ref = self.fs.message_ref(message_id)

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

        with self.fs.translated("add_link"):
            return append(self.fs.client.transaction())

    def mark_sent(self, message_id: str, at: datetime) -> None:
        from google.api_core.exceptions import FailedPrecondition, NotFound
        from google.cloud.firestore import SERVER_TIMESTAMP

        ref = self.fs.message_ref(message_id)
        with self.fs.translated("mark_sent"):
            snap = ref.get(field_paths=["sent_at"], **self.fs.rpc)
            if not snap.exists or snap.get("sent_at") is not None:
                return
            try:  # only if nobody changed the document since we looked
                ref.update(
                    {"sent_at": at, "sent": at, "written_at": SERVER_TIMESTAMP},
                    option=self.fs.client.write_option(last_update_time=snap.update_time),
                    **self.fs.rpc,
                )
            except (FailedPrecondition, NotFound):
                self.mark_sent(message_id, at)

    def record_sent(
        self, message_id: str, *, sent_at: datetime, recipients: tuple[str, ...]
    ) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud.firestore import SERVER_TIMESTAMP

        with self.fs.translated("record_sent"):
            try:
                self.fs.message_ref(message_id).update(
                    {
                        "sent_at": sent_at,
                        "sent": sent_at,
                        "recipients": list(recipients),
                        "written_at": SERVER_TIMESTAMP,
                    },
                    **self.fs.rpc,
                )
            except NotFound:
                log.info("sent mail for unknown message %s ignored", message_id)
        self.cache.stale(message_id)

    def list_messages(
        self, owner: str, *, limit: int = 20, before: datetime | None = None
    ) -> list[Message]:
        from google.cloud.firestore import FieldFilter, Query

        query = self.fs.col("messages").where(filter=FieldFilter("owner", "==", owner.lower()))
        if before is not None:
            query = query.where(filter=FieldFilter("created_at", "<", before))
        query = (
            query.order_by("created_at", direction=Query.DESCENDING)
            .select(MESSAGE_FIELDS)
            .limit(limit)
        )
        with self.fs.translated("list_messages"):
            return [
                message_from(from_doc_id(s.id), s.to_dict()) for s in query.stream(**self.fs.rpc)
            ]

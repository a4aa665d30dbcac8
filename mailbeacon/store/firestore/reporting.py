"""The ReportingStore port on Firestore: pages from the summaries kept on message documents,
the timeline from event documents, the overview from ``days`` (one document per owner and
day). Reads per page are in docs/dashboard.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...clock import Clock, SystemClock
from ...model import Event
from ...queries import EventKey, MessageQuery, matches, time_key
from ...rollup import MessagePage, MessageRow, Summary, page_of
from .client import Connection
from .docs import doc_id, event_from, from_doc_id, message_from

ROW_FIELDS = ["owner", "recipients", "subject", "created_at", "sent_at", "summary"]
"""(The ``sent`` field a page orders by is the message's sent_at, else created_at.)"""
SEARCH_SCAN = 1000
"""Firestore cannot match substrings: a search reads at most this many messages per page and
hands back a cursor to go on from where it stopped."""


class FirestoreReporting:
    """Each read is one query (a search: a bounded number of them)."""

    def __init__(
        self, fs: Connection, *, search_scan: int = SEARCH_SCAN, clock: Clock | None = None
    ) -> None:
        self.fs = fs
        self.search_scan = search_scan
        self.clock = clock or SystemClock()

    def query_messages(self, owner: str, query: MessageQuery) -> MessagePage:
        """One query of ``limit + 1`` message documents; with ``q``, up to SEARCH_SCAN."""
        from google.cloud.firestore import FieldFilter, Query

        base = self.fs.col("messages").where(filter=FieldFilter("owner", "==", owner.lower()))
        if query.status == "sent":
            base = base.where(filter=FieldFilter("status", "==", "sent"))
        elif query.status:  # statuses nest: "opened" is every message opened or more
            base = base.where(filter=FieldFilter(f"reached_{query.status}", "==", True))
        field = "activity" if query.sort == "activity" else "sent"
        # Firestore orders a range query by its range field first: a period sorted by last
        # activity is read in activity order and its sent times checked here, as a search is.
        in_memory = field == "activity" and bool(query.since or query.until)
        if query.since and not in_memory:
            base = base.where(filter=FieldFilter("sent", ">=", query.since))
        if query.until and not in_memory:
            base = base.where(filter=FieldFilter("sent", "<", query.until))
        filtered = bool(query.q) or in_memory
        direction = Query.ASCENDING if query.sort == "oldest" else Query.DESCENDING
        base = base.order_by(field, direction=direction).order_by("__name__", direction=direction)
        base = base.select(ROW_FIELDS)
        after = query.after
        wanted = query.limit + 1
        rows: list[MessageRow] = []
        scanned = 0
        exhausted = False
        while len(rows) < wanted and scanned < (self.search_scan if filtered else wanted):
            page = base
            if after is not None:
                key, last_id = after
                value: Any = key if field == "activity" else datetime.fromisoformat(key)
                page = page.start_after({field: value, "__name__": self.fs.message_ref(last_id)})
            batch = wanted if not filtered else min(200, self.search_scan - scanned)
            with self.fs.translated("query_messages"):
                snaps = list(page.limit(batch).stream(**self.fs.rpc))
            scanned += len(snaps)
            for snap in snaps:
                d = snap.to_dict()
                message = message_from(from_doc_id(snap.id), {**d, "links": []})
                after = (
                    d.get("activity") or ""
                    if field == "activity"
                    else time_key(message.reference_time),
                    message.id,
                )
                if matches(
                    message.subject + "\n" + "\n".join(message.recipients), query.q
                ) and _within(message.reference_time, query):
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
        with self.fs.translated("get_summary"):
            snap = self.fs.message_ref(message_id).get(field_paths=["summary"], **self.fs.rpc)
        return Summary.from_dict(snap.to_dict().get("summary")) if snap.exists else None

    def list_events_page(
        self, message_id: str, *, before: EventKey | None = None, limit: int = 100
    ) -> list[Event]:
        """One query of ``limit`` documents (plus one read of the cursor's event)."""
        from google.cloud.firestore import FieldFilter, Query

        query = (
            self.fs.col("events")
            .where(filter=FieldFilter("message_id", "==", message_id))
            .order_by("at", direction=Query.DESCENDING)
            .order_by("__name__", direction=Query.DESCENDING)
        )
        now = self.clock.now()
        with self.fs.translated("list_events_page"):
            if before is not None:
                cursor = self.fs.col("events").document(doc_id(before.id)).get(**self.fs.rpc)
                if not cursor.exists:
                    return []
                query = query.start_after(cursor)
            snaps = list(query.limit(limit).stream(**self.fs.rpc))
        events = [event_from(from_doc_id(s.id), s.to_dict()) for s in snaps]
        return [e for e in events if e.expires_at is None or e.expires_at > now]

    def day_counts(self, owner: str, first: str, last: str) -> dict[str, dict[str, int]]:
        """One query: a document per day that had any activity."""
        from google.cloud.firestore import FieldFilter

        query = (
            self.fs.col("days")
            .where(filter=FieldFilter("owner", "==", owner.lower()))
            .where(filter=FieldFilter("day", ">=", first))
            .where(filter=FieldFilter("day", "<=", last))
        )
        with self.fs.translated("day_counts"):
            return {
                s.get("day"): {  # increments cannot delete a counter a relabelling zeroed
                    k: int(v) for k, v in (s.to_dict().get("counts") or {}).items() if int(v)
                }
                for s in query.stream(**self.fs.rpc)
            }


def _within(sent: datetime, query: MessageQuery) -> bool:
    """Whether a message sent at ``sent`` is in the query's period (checked in memory when
    Firestore could not filter it)."""
    return (query.since is None or sent >= query.since) and (
        query.until is None or sent < query.until
    )

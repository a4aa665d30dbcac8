"""The Records port on Firestore: ``recordsets/{namespace}/records/{key}``, the value as JSON
and the key beside it (document ids are escaped; the key field keeps prefix queries in order).

One namespace lives elsewhere: the live feed (``live-events``, key ``{owner}|{processed
at}|{event id}``) is kept in the event documents themselves (``live_key`` and ``live``),
written by the same commit that creates each event (context.py), so the feed costs no write
of its own, and is deleted with its event (retention's TTL, privacy): nothing to sweep. Its
prefix listings are range queries on ``live_key`` (Firestore's automatic single-field index).
"""

from __future__ import annotations

import json
from typing import Any

from ...records import Namespace
from .client import Connection
from .docs import successor

IN_EVENTS = Namespace.LIVE_EVENTS
"""The namespace kept in the event documents."""


class FirestoreRecords:
    """Needs nothing but the connection: the composition root may build it alone."""

    def __init__(self, fs: Connection) -> None:
        self.fs = fs

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        if namespace == IN_EVENTS:
            found = self._in_events(key, key + "\0", 1)
            return found[0][1] if found and found[0][0] == key else None
        with self.fs.translated("get_record"):
            snap = self.fs.record_ref(namespace, key).get(**self.fs.rpc)
        return json.loads(snap.get("json")) if snap.exists else None

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        if namespace == IN_EVENTS:
            self._event_fields(key, {"live_key": key, "live": json.dumps(value)})
            return
        with self.fs.translated("put_record"):
            self.fs.record_ref(namespace, key).set(
                {"key": key, "json": json.dumps(value)}, **self.fs.rpc
            )

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        if namespace == IN_EVENTS:  # the feed's writer never asks (one entry per event)
            if self.get_record(namespace, key) is not None:
                return False
            self.put_record(namespace, key, value)
            return True
        with self.fs.translated("add_record"):
            try:
                self.fs.record_ref(namespace, key).create(
                    {"key": key, "json": json.dumps(value)}, **self.fs.rpc
                )
            except AlreadyExists:
                return False
        return True

    def delete_record(self, namespace: str, key: str) -> None:
        if namespace == IN_EVENTS:
            from google.cloud.firestore import DELETE_FIELD

            self._event_fields(key, {"live_key": DELETE_FIELD, "live": DELETE_FIELD})
            return
        with self.fs.translated("delete_record"):
            self.fs.record_ref(namespace, key).delete(**self.fs.rpc)

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        if namespace == IN_EVENTS:
            return self._in_events(prefix, successor(prefix), limit)
        upper = successor(prefix) if prefix else None
        query = key_range(self.fs.records(namespace), "key", prefix, upper, limit)
        with self.fs.translated("list_records"):
            found = [(s.get("key"), json.loads(s.get("json"))) for s in query.stream(**self.fs.rpc)]
        return [(k, v) for k, v in found if k.startswith(prefix)]

    def _in_events(
        self, low: str, high: str | None, limit: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Feed entries with ``low <= key < high``, in key order: one read per entry (one for
        none), as a query on any namespace."""
        query = key_range(self.fs.col("events"), "live_key", low, high, limit)
        with self.fs.translated("list_records"):
            snaps = list(query.select(["live_key", "live"]).stream(**self.fs.rpc))
        return [(s.get("live_key"), json.loads(s.get("live"))) for s in snaps]

    def _event_fields(self, key: str, fields: dict[str, Any]) -> None:
        """Set or clear an entry on its event's document; an entry for an event that is not
        stored (or no longer) has nowhere to live and is dropped."""
        from google.api_core.exceptions import NotFound

        with self.fs.translated("live feed entry"):
            try:
                self.fs.event_ref(key.rpartition("|")[2]).update(fields, **self.fs.rpc)
            except NotFound:
                return


def key_range(query: Any, field: str, low: str, high: str | None, limit: int | None) -> Any:
    """``query`` narrowed to ``low <= field < high`` (a bound left out when empty or None), in
    ``field`` order, at most ``limit`` documents: one single-field index serves it."""
    from google.cloud.firestore import FieldFilter

    if low:
        query = query.where(filter=FieldFilter(field, ">=", low))
    if high is not None:
        query = query.where(filter=FieldFilter(field, "<", high))
    query = query.order_by(field)
    return query if limit is None else query.limit(limit)

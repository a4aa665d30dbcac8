"""The Records port on Firestore: ``recordsets/{namespace}/records/{key}``, the value as JSON
and the key beside it (document ids are escaped; the key field keeps prefix queries in order)."""

from __future__ import annotations

import json
from typing import Any

from .client import Connection
from .docs import successor


class FirestoreRecords:
    """Needs nothing but the connection: the composition root may build it alone."""

    def __init__(self, fs: Connection) -> None:
        self.fs = fs

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        with self.fs.translated("get_record"):
            snap = self.fs.record_ref(namespace, key).get(**self.fs.rpc)
        return json.loads(snap.get("json")) if snap.exists else None

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        with self.fs.translated("put_record"):
            self.fs.record_ref(namespace, key).set(
                {"key": key, "json": json.dumps(value)}, **self.fs.rpc
            )

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        with self.fs.translated("add_record"):
            try:
                self.fs.record_ref(namespace, key).create(
                    {"key": key, "json": json.dumps(value)}, **self.fs.rpc
                )
            except AlreadyExists:
                return False
        return True

    def delete_record(self, namespace: str, key: str) -> None:
        with self.fs.translated("delete_record"):
            self.fs.record_ref(namespace, key).delete(**self.fs.rpc)

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        from google.cloud.firestore import FieldFilter

        query = self.fs.records(namespace)
        if prefix:
            query = query.where(filter=FieldFilter("key", ">=", prefix))
            upper = successor(prefix)
            if upper is not None:
                query = query.where(filter=FieldFilter("key", "<", upper))
        query = query.order_by("key")
        if limit is not None:
            query = query.limit(limit)
        with self.fs.translated("list_records"):
            found = [(s.get("key"), json.loads(s.get("json"))) for s in query.stream(**self.fs.rpc)]
        return [(k, v) for k, v in found if k.startswith(prefix)]

"""The Records port on SQLite: one ``records`` table keyed by (namespace, key)."""

from __future__ import annotations

import json
from typing import Any

from .database import Database


class SqliteRecords:
    """Needs nothing but the database: the composition root may build it alone."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None:
        rows = self.db.read(
            "SELECT value FROM records WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return json.loads(rows[0][0]) if rows else None

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO records VALUES (?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                (namespace, key, json.dumps(value)),
            )

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO records VALUES (?, ?, ?)",
                (namespace, key, json.dumps(value)),
            )
            return cursor.rowcount == 1

    def delete_record(self, namespace: str, key: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM records WHERE namespace = ? AND key = ?", (namespace, key))

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        rows = self.db.read(
            "SELECT key, value FROM records WHERE namespace = ? AND substr(key, 1, ?) = ? "
            "ORDER BY key LIMIT ?",
            (namespace, len(prefix), prefix, -1 if limit is None else limit),
        )
        return [(key, json.loads(value)) for key, value in rows]

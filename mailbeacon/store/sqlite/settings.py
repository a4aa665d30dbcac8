"""The SettingsStore port on SQLite: one JSON document per user."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from ...model import Settings
from .database import Database


class SqliteSettings:
    """``settings``: the user's lower-cased address and their settings as JSON."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_settings(self, user: str) -> Settings:
        rows = self.db.read("SELECT data FROM settings WHERE user = ?", (user.lower(),))
        return Settings.from_dict(json.loads(rows[0][0])) if rows else Settings(user=user.lower())

    def put_settings(self, settings: Settings) -> None:
        with self.db.write() as conn:
            _save(conn, settings)

    def change_settings(self, user: str, change: Callable[[Settings], Settings]) -> Settings:
        """Read and write inside one write transaction (BEGIN IMMEDIATE holds the lock)."""
        with self.db.write() as conn:
            rows = conn.execute("SELECT data FROM settings WHERE user = ?", (user.lower(),))
            row = rows.fetchone()
            current = Settings.from_dict(json.loads(row[0])) if row else Settings(user=user.lower())
            updated = change(current)
            if updated != current:
                _save(conn, updated)
            return updated


def _save(conn: sqlite3.Connection, settings: Settings) -> None:
    conn.execute(
        "INSERT INTO settings VALUES (?, ?) ON CONFLICT (user) DO UPDATE SET data = excluded.data",
        (settings.user.lower(), json.dumps(settings.to_dict())),
    )

"""The embedded store's schema, one script per version, and the data a migration fills in.

Database._migrate runs every script newer than the file's version, each in the one write
transaction that records the new version, so a data dir is migrated once and never half-way.
"""

from __future__ import annotations

import json
import sqlite3

from ...queries import search_text
from .rollups import Rollups
from .rows import event_row, message_row

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE messages (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, recipients TEXT NOT NULL,
        subject TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT);
    CREATE INDEX messages_by_owner ON messages (owner, created_at DESC);
    CREATE TABLE links (
        message_id TEXT NOT NULL REFERENCES messages (id), idx INTEGER NOT NULL,
        url TEXT NOT NULL, PRIMARY KEY (message_id, idx));
    CREATE TABLE events (
        id TEXT PRIMARY KEY, message_id TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
        verdict TEXT NOT NULL, reasons TEXT NOT NULL, client TEXT NOT NULL,
        link_index INTEGER, url TEXT, ip_hash TEXT NOT NULL, network TEXT NOT NULL,
        user_agent TEXT NOT NULL, expires_at TEXT);
    CREATE INDEX events_by_message ON events (message_id, at);
    CREATE INDEX events_by_expiry ON events (expires_at);
    CREATE TABLE self_views (message_id TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX self_views_by_message ON self_views (message_id, at);
    CREATE TABLE settings (user TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE records (
        namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (namespace, key));
    """,
    # The bus's tables (outbox, spool cursor) are the bus's: bus/local.py creates them. Data
    # dirs made before that have an outbox from migration 1, with the same definition.
    # 2: summaries kept as events arrive (the dashboard's list) and daily counters (overview).
    """
    ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'sent';
    ALTER TABLE messages ADD COLUMN activity TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN search TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX messages_by_created ON messages (owner, created_at, id);
    CREATE INDEX messages_by_status ON messages (owner, status, created_at, id);
    CREATE INDEX messages_by_activity ON messages (owner, activity, id);
    CREATE TABLE human_devices (
        message_id TEXT NOT NULL, device TEXT NOT NULL, PRIMARY KEY (message_id, device))
        WITHOUT ROWID;
    CREATE TABLE day_counts (
        owner TEXT NOT NULL, day TEXT NOT NULL, counts TEXT NOT NULL,
        PRIMARY KEY (owner, day));
    """,
    # 3: statuses that nest (rank: a filter for "opened" includes clicked and replied), the
    # list ordered and filtered by the time shown (sent: the send time, else when tracked),
    # and a search that reads index entries, not whole rows.
    """
    ALTER TABLE messages ADD COLUMN rank INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN sent TEXT NOT NULL DEFAULT '';
    UPDATE messages SET rank = CASE status WHEN 'opened' THEN 1 WHEN 'clicked' THEN 2
        WHEN 'replied' THEN 3 ELSE 0 END, sent = COALESCE(sent_at, created_at);
    CREATE INDEX messages_by_sent ON messages (owner, sent, id);
    CREATE INDEX messages_search ON messages (owner, sent, id, search);
    CREATE INDEX messages_rank0 ON messages (owner, sent, id) WHERE rank = 0;
    CREATE INDEX messages_rank1 ON messages (owner, sent, id) WHERE rank >= 1;
    CREATE INDEX messages_rank2 ON messages (owner, sent, id) WHERE rank >= 2;
    CREATE INDEX messages_rank3 ON messages (owner, sent, id) WHERE rank >= 3;
    DROP INDEX messages_by_status;
    """,
    # 4: the search's trigram index (search.py): each message's stable number and its
    # postings, filled by _index_search once the search texts are (migration 2's backfill);
    # and "not opened" by Last activity, whose rows all sort last in messages_by_activity.
    """
    CREATE INDEX messages_rank0_activity ON messages (owner, activity, id) WHERE rank = 0;
    ALTER TABLE messages ADD COLUMN seq INTEGER;
    UPDATE messages SET seq = rowid;
    CREATE UNIQUE INDEX messages_seq ON messages (seq);
    CREATE TABLE search_grams (
        gram TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (gram, seq)) WITHOUT ROWID;
    """,
)


def _backfill_summaries(conn: sqlite3.Connection) -> None:
    """Migration 2's data: replay every stored event into the new summaries, once."""
    rollups = Rollups(conn)
    for row in conn.execute("SELECT id, recipients, subject FROM messages").fetchall():
        conn.execute(
            "UPDATE messages SET search = ? WHERE id = ?",
            (search_text(row[2], json.loads(row[1])), row[0]),
        )
    for row in conn.execute("SELECT * FROM messages").fetchall():
        rollups.message_added(message_row(row))
    for row in conn.execute("SELECT * FROM events ORDER BY at, id").fetchall():
        rollups.event_added(event_row(row))


def _index_search(conn: sqlite3.Connection) -> None:
    """Migration 4's data: every message's postings, in one sorted insert (SQLite's substr
    counts characters as Python's slices do, and the sorted insert appends to the index)."""
    conn.execute(
        """
        WITH RECURSIVE w(seq, search, i) AS (
            SELECT seq, search, 1 FROM messages WHERE length(search) >= 3
            UNION ALL SELECT seq, search, i + 1 FROM w WHERE i < length(search) - 2)
        INSERT OR IGNORE INTO search_grams SELECT substr(search, i, 3), seq FROM w ORDER BY 1, 2
        """
    )


AFTER_MIGRATION = {2: _backfill_summaries, 4: _index_search}

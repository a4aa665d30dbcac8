"""An embedded store made before the dashboard opens with its summaries filled in.

Migration 2 adds the summary columns and day counters and replays every stored event into
them, once, under the write lock; this builds a version-1 database by hand and opens it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbeacon.queries import MessageQuery
from mailbeacon.store.sqlite import MIGRATIONS, Database, SqliteStore

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ts(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def test_version_1_data_is_summarised_when_the_new_code_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in filter(str.strip, MIGRATIONS[0].split(";")):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute(
        "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
        ("m1", "ann@acme.test", json.dumps(["bo@example.org"]), "Old one", _ts(AT), _ts(AT)),
    )
    expires = _ts(AT + timedelta(days=3650))
    for i, (kind, verdict, ua) in enumerate(
        [("open", "human", "A"), ("open", "human", "A"), ("open", "prefetch", "B"),
         ("click", "human", "C")]
    ):  # fmt: skip
        conn.execute(
            "INSERT INTO events VALUES (?, 'm1', ?, ?, ?, '[]', 'gmail', ?, NULL, 'h', 'n', ?, ?)",
            (f"e{i}", kind, _ts(AT + timedelta(hours=1, minutes=i)), verdict,
             1 if kind == "click" else None, ua, expires),
        )  # fmt: skip
    conn.commit()
    conn.close()

    store = SqliteStore(Database(path))
    summary = store.get_summary("m1")
    assert summary is not None and summary.status == "clicked"
    assert (summary.human_opens, summary.unique_human_opens, summary.machine_opens) == (2, 1, 1)
    assert summary.human_clicks == 1 and dict(summary.link_clicks) == {1: 1}
    day = AT.date().isoformat()
    counts = store.day_counts("ann@acme.test", day, day)[day]
    assert counts["messages"] == 1 and counts["opened"] == 1 and counts["human_opens"] == 2
    rows = store.query_messages("ann@acme.test", MessageQuery(q="old")).rows
    assert [r.message.id for r in rows] == ["m1"]
    store.close()
    again = SqliteStore(Database(path))  # migrating is done once
    assert again.get_summary("m1") == summary
    again.close()

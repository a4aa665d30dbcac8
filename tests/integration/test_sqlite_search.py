"""The SQLite search's trigram index (mailbeacon/store/sqlite/search.py) finds exactly what
scanning every row finds, page by page, under every filter and order; a rare term is read
from the index, a common one by the scan."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from mailbeacon.queries import MessageQuery
from mailbeacon.store.sqlite import Database, SqliteReporting, SqliteStore
from mailbeacon.store.sqlite.search import candidates
from tests.support.store_data import T0, event, message, owner

WORDS = ("acme", "globex", "initech", "umbrella", "zoë", "o'brien", "100%", 'say "hi"')


def test_the_index_finds_what_the_scan_finds(tmp_path: Path) -> None:
    db = Database(tmp_path / "search.db")
    store = SqliteStore(db)
    who, rng = owner(), random.Random(5)
    for i in range(400):
        m = replace(
            message(who, at=T0 + timedelta(minutes=i)),
            subject=f"Proposal {i} for {rng.choice(WORDS)}",
            recipients=tuple(f"client{rng.randrange(60)}@example.org" for _ in range(2)),
        )
        store.add_message(m)
        if i % 3 == 0:
            store.add_event(event(m.id, T0 + timedelta(hours=i)))
        if i % 7 == 0:
            store.record_sent(m.id, sent_at=T0 + timedelta(days=1, minutes=-i), recipients=())
    indexed = SqliteReporting(db, search_cap=1000)
    scanned = SqliteReporting(db, search_cap=0)  # the index turned off: always the scan

    def pages(reporting: SqliteReporting, query: MessageQuery) -> list[list[str]]:
        found = []
        while True:
            page = reporting.query_messages(who, query)
            found.append([row.message.id for row in page.rows])
            if page.next_after is None:
                return found
            query = replace(query, after=page.next_after)

    queries = ("client4@", "client4", "ZOË", "o'brien", "100%", '"hi"', "proposal 12", "nowhere")
    for q in queries:
        for sort in ("newest", "oldest", "activity"):
            for status in (None, "opened", "sent"):
                query = MessageQuery(q=q, sort=sort, status=status, limit=7)
                assert pages(indexed, query) == pages(scanned, query), (q, sort, status)
    assert sum(map(len, pages(indexed, MessageQuery(q="client4@", limit=7)))) > 0
    assert candidates(db, "proposal 123 for") is not None  # " 123" is in one message
    assert candidates(db, "proposal", cap=400) is None  # in every message: the scan

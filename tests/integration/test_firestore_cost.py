"""What hits cost on Firestore, measured at the client's RPC boundary against the emulator
(functions/standins/billing.py counts as Google bills: a document read per document a get or
query returns, one for an empty query; a write per document in a commit): the classification
context is the one read per hit, the live feed rides in the event documents (no record is
read or written per hit), and every number equals a replay of the stored events."""

from __future__ import annotations

import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.standins.billing import Counts, count_firestore
from mailbeacon import live
from mailbeacon.bus.local import LocalBus
from mailbeacon.classify import classify
from mailbeacon.model import Hit, Message
from mailbeacon.pipeline import process_hit
from mailbeacon.store.firestore import FirestoreStore
from mailbeacon.store.sqlite import Database
from mailbeacon.summary import contribution, summarize
from tests.support.emulators import PROJECT, Emulators

pytestmark = pytest.mark.emulators

MESSAGES, HITS = 4, 60
AGENTS = [
    "Mozilla/5.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "python-requests/2.31",
]


def _kind(path: str) -> str:
    return path.split("/documents/", 1)[1].split("/")[0].split("_", 1)[1]


def test_hits_cost_one_read_each_and_the_live_feed_no_write_of_its_own(
    emulators: Emulators, tmp_path: Path
) -> None:
    from google.cloud import firestore

    counts = Counts()
    client = count_firestore(firestore.Client(project=PROJECT), counts)
    store = FirestoreStore(client, prefix=f"cost{secrets.token_hex(3)}_", flush_interval=0.2)
    bus = LocalBus(Database(tmp_path / "outbox.db"))
    sent = datetime.now(UTC) - timedelta(hours=1)
    owner = f"ann{secrets.token_hex(2)}@example.com"
    messages = [
        Message(
            id=secrets.token_urlsafe(12),
            owner=owner,
            recipients=("bob@example.org", "cy@example.org"),
            subject=f"Plan {n}",
            created_at=sent,
            sent_at=sent,
        )
        for n in range(MESSAGES)
    ]
    for m in messages:
        store.add_message(m)
    hits = [
        Hit(
            id=secrets.token_hex(12),
            kind="open",
            message_id=messages[i % MESSAGES].id,
            at=sent + timedelta(minutes=5, seconds=i),
            user_agent=AGENTS[i % len(AGENTS)],
            ip_hash=f"h{i % 7}",
            network="203.0.113.0/24",
        ).to_dict()
        for i in range(HITS)
    ]
    processed = sent + timedelta(minutes=30)
    _, cursor = live.since(store.records, owner, None, processed)
    reads, before = counts.reads, Counter({p: len(t) for p, t in counts.writes.items()})

    with ThreadPoolExecutor(max_workers=8) as pool:
        events = list(
            pool.map(
                lambda h: process_hit(store, bus, classify, h, live_at=lambda: processed), hits
            )
        )
    assert all(e is not None for e in events)

    written = Counter({p: len(t) for p, t in counts.writes.items()}) - before
    by_kind = Counter()
    for path, n in written.items():
        by_kind[_kind(path)] += n
    # reads: the message document per hit, and the owner's settings once (then cached)
    assert counts.reads - reads <= HITS + 1
    # writes: each event's document once (the feed entry inside it), each message document
    # at most once per hit, the day counters coalesced; nothing else (no feed record, no sweep)
    assert set(by_kind) <= {"events", "messages", "days"}
    assert by_kind["events"] == HITS and all(
        n == 1 for p, n in written.items() if _kind(p) == "events"
    )
    assert by_kind["messages"] <= HITS and by_kind["days"] <= HITS
    assert sum(by_kind.values()) <= 3 * HITS

    # The live feed has every event once, as a page polling from before would see it.
    entries, _ = live.since(store.records, owner, cursor, processed + timedelta(seconds=1))
    assert sorted(e["id"] for e in entries) == sorted(h["id"] for h in hits)
    assert {e["subject"] for e in entries} == {m.subject for m in messages}
    # The summaries and the day counters are a replay of the stored events.
    day = sent.date().isoformat()
    replayed: Counter[str] = Counter()
    for m in messages:
        stored = store.list_events(m.id)
        assert store.get_summary(m.id) == summarize(m, stored)
        replayed.update(contribution(m, stored).get(day, {}))
    counted = store.day_counts(owner, day, day)[day]
    assert {k: n for k, n in counted.items() if n} == dict(+replayed)


def test_a_hit_the_owners_strictness_does_not_decide_costs_exactly_one_read(
    emulators: Emulators, tmp_path: Path
) -> None:
    """The owner's settings are read only for a hit whose verdict they decide: a function
    instance lives minutes, so a cached copy would otherwise be read again for most hits."""
    from google.cloud import firestore

    counts = Counts()
    client = count_firestore(firestore.Client(project=PROJECT), counts)
    store = FirestoreStore(client, prefix=f"lazy{secrets.token_hex(3)}_", flush_interval=0.0)
    bus = LocalBus(Database(tmp_path / "outbox.db"))
    sent = datetime.now(UTC) - timedelta(days=1)
    owners = [f"o{n}{secrets.token_hex(2)}@example.com" for n in range(3)]
    messages = [
        Message(secrets.token_urlsafe(12), o, ("bob@example.org",), "Hi", sent, sent_at=sent)
        for o in owners
    ]
    for m in messages:
        store.add_message(m)
    late = [  # hours after sending, one reader each: the same verdict at every level
        Hit(
            id=secrets.token_hex(12),
            kind="open",
            message_id=m.id,
            at=sent + timedelta(hours=2 + n),
            user_agent=AGENTS[0],
            ip_hash=f"h{n}",
            network="203.0.113.0/24",
        ).to_dict()
        for n, m in enumerate(messages)
    ]
    reads = counts.reads
    for payload in late:
        assert process_hit(store, bus, classify, payload) is not None
    assert counts.reads - reads == len(late)  # the message document, nothing else

    early = Hit(
        id=secrets.token_hex(12),
        kind="open",
        message_id=messages[0].id,
        at=sent + timedelta(seconds=100),  # a scanner at strict, a person at balanced
        user_agent=AGENTS[1],
        ip_hash="h9",
        network="203.0.113.0/24",
    ).to_dict()
    reads = counts.reads
    assert process_hit(store, bus, classify, early) is not None
    assert counts.reads - reads == 2  # within the first minutes: the owner's settings too


def test_the_live_feed_an_earlier_version_kept_as_records_is_deleted_by_the_retention_sweep(
    emulators: Emulators,
) -> None:
    store = FirestoreStore(project=PROJECT, prefix=f"old{secrets.token_hex(3)}_")
    owner = "ann@example.com"
    old_feed = store.connection.records(live.FEED)
    old_feed.document("a").set({"key": f"{owner}|2026-01-05T10:00:00Z|e1", "json": "{}"})
    store.connection.records(live.SWEPT).document("b").set({"key": owner, "json": "{}"})
    assert store.purge_expired(datetime.now(UTC)) == 0
    assert list(old_feed.stream()) == []
    assert list(store.connection.records(live.SWEPT).stream()) == []

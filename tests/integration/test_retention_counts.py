"""Retention takes purged events out of the counts too, not only out of the event lists.

The summaries behind the dashboard list, `/api/v1/messages/{id}` and the overview are kept as
events arrive; when the embedded store purges events (the hourly sweep, or a domain policy's
retention) it rebuilds the touched messages' summaries from what remains. Firestore deletes
expired events by TTL on Google's side, with no hook, so there the counters keep history
(docs/dashboard.md says so).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from mailbeacon.store import Store
from mailbeacon.store.memory import MemoryStore
from mailbeacon.store.sqlite import Database, SqliteStore
from tests.support.store_data import NOW, aged_event, aged_message, domain

STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _p: MemoryStore(),
    "sqlite": lambda p: SqliteStore(Database(p / "r.db")),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return STORES[request.param](tmp_path)


def _human_opens(store: Store, message_id: str) -> int:
    summary = store.get_summary(message_id)
    assert summary is not None
    return summary.public_counts()["opens"]["human"]


def test_a_domain_purge_rebuilds_the_counts_from_what_remains(store: Store) -> None:
    name = domain()
    m = aged_message(f"ann@{name}")
    store.add_message(m)
    store.add_event(aged_event(m.id, 40))
    store.add_event(aged_event(m.id, 2))
    assert _human_opens(store, m.id) == 2
    assert store.purge_domain(name, NOW - timedelta(days=30)) == 1
    assert _human_opens(store, m.id) == 1
    assert len(store.list_events(m.id)) == 1


def test_the_expiry_sweep_rebuilds_the_counts(store: Store) -> None:
    m = aged_message(f"ann@{domain()}")
    store.add_message(m)
    old = aged_event(m.id, 200)  # expired 20 days ago (180-day expiry)
    store.add_event(old)
    store.add_event(aged_event(m.id, 2))
    assert store.purge_expired(NOW) == 1
    assert _human_opens(store, m.id) == 1

"""Pub/Sub delivers a hit at least once: again after a consumer was killed holding it, or to
two processes at once when a lease lapses. On Firestore an event's document is created by
the same commit that counts it in its message's summary, so however it is delivered a hit is
stored once and counted once, even after newer events have pushed it out of the message's
``recent`` window."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from mailbeacon.store import CONTEXT_EVENTS
from mailbeacon.store.firestore import FirestoreStore
from tests.support.emulators import PROJECT, Emulators
from tests.support.store_data import T0, event, message, owner

pytestmark = pytest.mark.emulators


@pytest.fixture
def prefix(emulators: Emulators) -> str:
    return f"r{secrets.token_hex(4)}_"


@pytest.fixture
def store(prefix: str) -> Iterator[FirestoreStore]:
    made = FirestoreStore(project=PROJECT, prefix=prefix, flush_interval=0.01)
    yield made
    made.close()


def _human_opens(store: FirestoreStore, message_id: str) -> int:
    summary = store.get_summary(message_id)
    assert summary is not None
    return summary.human_opens


def test_one_hit_delivered_to_two_processes_at_once_is_stored_and_counted_once(
    store: FirestoreStore, prefix: str
) -> None:
    other = FirestoreStore(project=PROJECT, prefix=prefix, flush_interval=0.01)  # process two
    try:
        m = message(owner())
        store.add_message(m)
        hits = [event(m.id, T0 + timedelta(minutes=1, seconds=i)) for i in range(20)]
        for each in (store, other):
            each.get_context(m.id)  # as the consumer does before storing

        def deliver(pair: tuple[FirestoreStore, int]) -> bool:
            each, i = pair
            return each.add_event(hits[i])

        with ThreadPoolExecutor(8) as pool:  # every hit to both processes, at the same time
            created = list(pool.map(deliver, [(s, i) for i in range(20) for s in (store, other)]))
        assert sum(created) == 20  # each hit created by exactly one of its two deliveries
        assert _human_opens(store, m.id) == 20
        assert store.add_event(hits[0]) is False  # and once more, later: nothing changes
        assert _human_opens(store, m.id) == 20
        assert len(store.list_events(m.id)) == 20
    finally:
        other.close()


def test_a_counted_event_redelivered_after_leaving_the_recent_window_is_not_counted_again(
    store: FirestoreStore,
) -> None:
    m = message(owner())
    store.add_message(m)
    first = event(m.id, T0 + timedelta(minutes=1))
    assert store.add_event(first) is True
    for i in range(CONTEXT_EVENTS + 5):  # newer events push ``first`` out of ``recent``
        store.get_context(m.id)  # as the consumer does before each hit: trims the window
        assert store.add_event(event(m.id, T0 + timedelta(minutes=2, seconds=i)))
    recent = store.client.collection(store.prefix + "messages").document(m.id).get().get("recent")
    assert first.id not in recent
    before = _human_opens(store, m.id)
    assert before == CONTEXT_EVENTS + 6

    store.get_context(m.id)
    assert store.add_event(first) is False
    assert _human_opens(store, m.id) == before

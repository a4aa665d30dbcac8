"""Pub/Sub redelivers what a killed consumer held. On Firestore an event's document and its
count in the message summary are separate writes, so a redelivery must count an event whose
first attempt died between them, and never count one twice, however many newer events have
pushed it out of the message's ``recent`` window since."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest

from mailbeacon.store import CONTEXT_EVENTS
from mailbeacon.store.firestore import FirestoreStore
from mailbeacon.store.firestore_docs import doc_id, event_data
from tests.integration.test_store_contract import T0, event, message, owner
from tests.support.emulators import PROJECT, Emulators

pytestmark = pytest.mark.emulators


@pytest.fixture
def store(emulators: Emulators) -> Iterator[FirestoreStore]:
    made = FirestoreStore(project=PROJECT, prefix=f"r{secrets.token_hex(4)}_", flush_interval=0.01)
    yield made
    made.close()


def _human_opens(store: FirestoreStore, message_id: str) -> int:
    summary = store.get_summary(message_id)
    assert summary is not None
    return summary.human_opens


def test_an_event_whose_first_attempt_died_before_its_count_is_counted_on_redelivery(
    store: FirestoreStore,
) -> None:
    m = message(owner())
    store.add_message(m)
    lost = event(m.id, T0 + timedelta(minutes=1))
    # What a consumer killed between the two writes leaves behind: the document, uncounted.
    store.client.collection(store.prefix + "events").document(doc_id(lost.id)).create(
        {**event_data(lost), "counted": False}
    )
    assert _human_opens(store, m.id) == 0

    assert store.add_event(lost) is False  # not new, but now counted
    assert _human_opens(store, m.id) == 1
    assert store.add_event(lost) is False  # a third delivery changes nothing
    assert _human_opens(store, m.id) == 1
    assert [e.id for e in store.list_events(m.id)] == [lost.id]


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

    assert store.add_event(first) is False
    assert _human_opens(store, m.id) == before

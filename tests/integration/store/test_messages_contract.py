"""The MessageStore contract on every backend: messages round-trip with their links (ids
awkward for a document store are just unknown), links are appended in order, the send time
is set once, Gmail's account of the sent message replaces the guess, and an owner's messages
list newest first, a page at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailbeacon.errors import UnknownMessage
from mailbeacon.model import Link
from mailbeacon.store import Store
from mailbeacon.tokens import new_message_id
from tests.support.store_data import T0, message, owner


def test_messages_round_trip_with_links(store: Store) -> None:
    m = message(owner(), links=(Link(1, "https://example.com/a"), Link(2, "https://x.org/?q=1")))
    store.add_message(m)
    assert store.get_message(m.id) == m
    assert store.get_message(new_message_id()) is None


def test_links_are_appended_with_the_next_index(store: Store) -> None:
    m = message(owner(), links=(Link(1, "https://example.com/a"),))
    store.add_message(m)
    assert store.add_link(m.id, "https://example.com/b") == Link(2, "https://example.com/b")
    assert [lk.index for lk in store.get_message(m.id).links] == [1, 2]  # type: ignore[union-attr]
    with pytest.raises(UnknownMessage):
        store.add_link(new_message_id(), "https://example.com/c")


def test_mark_sent_sets_the_time_once(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    store.mark_sent(m.id, T0 + timedelta(minutes=5))
    store.mark_sent(m.id, T0 + timedelta(minutes=9))
    assert store.get_message(m.id).sent_at == T0 + timedelta(minutes=5)  # type: ignore[union-attr]


def test_record_sent_replaces_the_guess_and_leaves_unknown_messages_alone(store: Store) -> None:
    m = message(owner(), sent_at=T0)
    store.add_message(m)
    later = T0 + timedelta(minutes=3)
    store.record_sent(m.id, sent_at=later, recipients=("c@example.org",))
    found = store.get_message(m.id)
    assert found is not None
    assert (found.sent_at, found.recipients) == (later, ("c@example.org",))
    unknown = new_message_id()
    store.record_sent(unknown, sent_at=later, recipients=("c@example.org",))
    assert store.get_message(unknown) is None


def test_list_messages_is_per_owner_newest_first_and_pages(store: Store) -> None:
    me, other = owner(), owner()
    mine = [message(me, at=T0 + timedelta(minutes=i)) for i in range(5)]
    for m in [*mine, message(other)]:
        store.add_message(m)
    first = store.list_messages(me, limit=3)
    assert [m.id for m in first] == [m.id for m in reversed(mine)][:3]
    rest = store.list_messages(me, limit=3, before=first[-1].created_at)
    assert [m.id for m in rest] == [mine[1].id, mine[0].id]
    assert store.list_messages(me.upper(), limit=10)[0].owner == me


def test_awkward_ids_are_just_unknown(store: Store) -> None:
    m = message(owner(), sent_at=T0 + timedelta(minutes=1))
    store.add_message(m)
    assert store.get_message(m.id) == m
    assert store.get_message("no-such-message") is None
    assert store.get_message("with/slash") is None

"""The PipelineStore contract on every backend: events are stored once and listed in time
order (the latest ones with a limit), self views accumulate in order, and the classification
context brings the message, its events, its self views and the owner's strictness."""

from __future__ import annotations

from datetime import timedelta

from mailbeacon.model import Settings, Strictness
from mailbeacon.store import Store
from mailbeacon.tokens import new_message_id
from tests.support.store_data import T0, event, message, owner


def test_events_are_stored_once_and_listed_in_time_order(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    late = event(m.id, T0 + timedelta(minutes=2), id="late")
    early = event(
        m.id,
        T0 + timedelta(minutes=1),
        id="early",
        kind="click",
        link_index=1,
        url="https://e.com/",
    )
    assert store.add_event(late) is True
    assert store.add_event(early) is True
    assert store.add_event(late) is False  # redelivery
    assert store.list_events(m.id) == [early, late]
    assert store.list_events(new_message_id()) == []


def test_list_events_with_a_limit_keeps_the_latest_in_time_order(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    events = [event(m.id, T0 + timedelta(seconds=i), id=f"e{i:02}") for i in range(12)]
    for e in reversed(events):
        store.add_event(e)
    assert store.list_events(m.id, limit=5) == events[-5:]
    assert store.list_events(m.id, limit=50) == events
    assert store.list_events(m.id) == events


def test_self_views_accumulate_in_order(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    store.add_self_view(m.id, T0 + timedelta(minutes=3))
    store.add_self_view(m.id, T0 + timedelta(minutes=1))
    assert store.list_self_views(m.id) == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]


def test_self_views_are_listed_in_time_order(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    store.add_self_view(m.id, T0 + timedelta(minutes=7))
    store.add_self_view(m.id, T0 + timedelta(minutes=2))
    assert store.list_self_views(m.id) == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=7)]
    assert store.list_self_views("unknown") == []


def test_context_brings_message_events_self_views_and_strictness(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    store.put_settings(Settings(user=m.owner, strictness=Strictness.STRICT))
    events = [event(m.id, T0 + timedelta(seconds=s)) for s in (30, 10, 20)]
    for e in events:
        store.add_event(e)
    store.add_self_view(m.id, T0 + timedelta(minutes=1))
    context = store.get_context(m.id)
    assert context is not None
    assert context.message == m
    assert list(context.earlier) == sorted(events, key=lambda e: e.at)
    assert context.self_views == (T0 + timedelta(minutes=1),)
    assert context.strictness is Strictness.STRICT
    assert store.get_context("unknown") is None

"""The PipelineStore contract on every backend: events are stored once and listed in time
order (the latest ones with a limit), self views accumulate in order, and the classification
context brings the message, its events and its self views, the owner's strictness on request."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from mailbeacon.model import Link, Settings, Strictness, Verdict
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


def test_context_brings_message_events_self_views_and_the_strictness_on_request(
    store: Store,
) -> None:
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
    assert context.strictness is None  # unread: asked for only when it decides a verdict
    assert store.owner_strictness(m.owner) is Strictness.STRICT
    assert store.owner_strictness(owner()) is Strictness.BALANCED  # nothing saved
    assert store.get_context("unknown") is None


def test_a_relabelling_rewrites_the_event_summary_and_days_in_the_same_write(
    store: Store,
) -> None:
    """Hindsight (a scanner's link walk) relabels events stored as human: the events, the
    summary and the day counters move together, and a second delivery moves nothing twice."""
    who = owner()
    m = replace(
        message(who, links=(Link(1, "https://example.com/a"), Link(2, "https://example.com/b"))),
        sent_at=T0,
    )
    store.add_message(m)
    at = (T0 + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    walk_open = event(m.id, at, ip_hash="w")
    walk_click = event(m.id, at + timedelta(seconds=1), kind="click", link_index=1, ip_hash="w")
    person = event(m.id, at + timedelta(hours=1), ip_hash="p", user_agent="Person")
    for e in (walk_open, walk_click, person):
        assert store.add_event(e)
    second = event(
        m.id, at + timedelta(seconds=2), kind="click", link_index=2, ip_hash="w",
        verdict=Verdict.SCANNER,
    )  # fmt: skip
    relabelled = [
        replace(e, verdict=Verdict.SCANNER, reasons=(*e.reasons, "link-burst"))
        for e in (walk_open, walk_click)
    ]
    assert store.add_event(second, relabelled)
    assert not store.add_event(second, relabelled)  # a redelivery: nothing moves twice

    summary = store.get_summary(m.id)
    assert summary is not None
    assert (summary.status, summary.human_opens, summary.human_clicks) == ("opened", 1, 0)
    assert (summary.machine_opens, summary.machine_clicks, summary.unique_human_opens) == (1, 2, 1)
    assert summary.first_opened_at == person.at and summary.link_clicks == ()
    assert dict(summary.machine_by_reason)["link-burst"] == 2
    verdicts = {e.id: (e.verdict, e.reasons) for e in store.list_events(m.id)}
    assert verdicts[walk_click.id] == (Verdict.SCANNER, ("gmail-image-proxy", "link-burst"))
    assert verdicts[walk_open.id][0] is Verdict.SCANNER
    assert verdicts[person.id][0] is Verdict.HUMAN
    tracked, day = T0.date().isoformat(), at.date().isoformat()
    counts = store.day_counts(who, tracked, day)
    assert counts[tracked]["opened"] == 1 and "clicked" not in counts[tracked]
    assert counts[day]["human_opens"] == 1 and "clicks" not in counts[day]
    assert counts[day]["machine_hits"] == 3 and counts[day]["verdict:scanner"] == 3
    assert "hour:9" not in counts[day] and counts[day]["hour:10"] == 1
    assert counts[day]["machine_hits@9"] == 3 and "clicks@9" not in counts[day]


def test_a_new_event_enters_its_owners_live_feed_once_with_the_same_write(store: Store) -> None:
    from mailbeacon import live

    m = message(owner())
    store.add_message(m)
    processed = T0 + timedelta(minutes=3)
    first = event(m.id, T0 + timedelta(minutes=1), id="feed-1")
    second = event(m.id, T0 + timedelta(minutes=2), id="feed-2", verdict=Verdict.PREFETCH)
    _, cursor = live.since(store.records, m.owner, None, processed)
    assert store.add_event(first, live_at=processed) is True
    assert store.add_event(second, live_at=processed + timedelta(seconds=1)) is True
    assert store.add_event(first, live_at=processed + timedelta(seconds=2)) is False  # again
    assert store.add_event(event(m.id, T0, id="quiet")) is True  # no live_at: not in the feed

    entries, cursor = live.since(store.records, m.owner, cursor, processed + timedelta(seconds=5))
    assert [(e["id"], e["verdict"], e["subject"]) for e in entries] == [
        ("feed-1", "human", m.subject),
        ("feed-2", "prefetch", m.subject),
    ]
    again = live.since(store.records, m.owner, cursor, processed + timedelta(seconds=6))[0]
    assert {e["id"] for e in again} <= {"feed-1"}  # readers look back OVERLAP; nothing new
    assert live.since(store.records, owner(), "", processed)[0] == []  # nobody else's
    keys = [k for k, _ in store.records.list_records(live.FEED, prefix=f"{m.owner}|")]
    assert [k.rpartition("|")[2] for k in keys] == ["feed-1", "feed-2"]
    store.records.delete_record(live.FEED, keys[0])  # what a privacy purge does
    assert store.records.get_record(live.FEED, keys[0]) is None
    assert store.records.get_record(live.FEED, keys[1]) is not None

"""The Store contract for the dashboard's reads (memory, SQLite, Firestore on its emulator):
summaries and day counters kept as events arrive, keyed paging, the timeline's pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from mailbeacon.model import Link, Verdict
from mailbeacon.queries import EventKey, MessageQuery, time_key
from mailbeacon.store import Store
from tests.integration.test_store_contract import T0, event, message, owner


def test_summary_and_day_counters_follow_each_stored_event(any_store: Store) -> None:
    who = owner()
    m = replace(message(who), links=(Link(1, "https://example.com/a"),), sent_at=T0)
    any_store.add_message(m)
    opened = T0 + timedelta(hours=2)
    assert any_store.add_event(event(m.id, opened))
    any_store.add_event(event(m.id, opened + timedelta(seconds=5)))  # the same device again
    any_store.add_event(event(m.id, opened + timedelta(minutes=1), verdict=Verdict.PREFETCH))
    first_click = event(m.id, opened + timedelta(minutes=2), kind="click", link_index=1)
    any_store.add_event(first_click)
    assert not any_store.add_event(first_click)  # a redelivery counts nothing

    summary = any_store.get_summary(m.id)
    assert summary is not None
    assert (summary.status, summary.human_opens, summary.unique_human_opens) == ("clicked", 2, 1)
    assert (summary.machine_opens, summary.human_clicks, summary.machine_clicks) == (1, 1, 0)
    assert summary.first_opened_at == opened
    assert summary.last_activity_at == opened + timedelta(minutes=2)
    assert dict(summary.link_clicks) == {1: 1}

    day = T0.date().isoformat()
    counts = any_store.day_counts(who, day, day)[day]
    assert counts["messages"] == 1 and counts["opened"] == 1 and counts["clicked"] == 1
    assert counts["human_opens"] == 2 and counts["clicks"] == 1 and counts["machine_hits"] == 1
    assert counts["verdict:prefetch"] == 1 and counts[f"hour:{opened.hour}"] == 2
    assert counts["client:gmail"] == 2
    assert any_store.day_counts(owner(), day, day) == {}
    assert any_store.get_summary("nope") is None


def test_listing_filters_sorts_and_pages_by_key(any_store: Store) -> None:
    who, other = owner(), owner()
    ms = [
        replace(message(who, at=T0 + timedelta(minutes=i)), subject=f"Deal {i}") for i in range(5)
    ]
    ms[3] = replace(ms[3], subject="Renewal terms", recipients=("zed@acme.test",))
    for m in ms:
        any_store.add_message(m)
    any_store.add_message(message(other))
    any_store.add_event(event(ms[1].id, T0 + timedelta(hours=3)))
    any_store.add_event(event(ms[2].id, T0 + timedelta(hours=1), kind="click"))

    def ids(query: MessageQuery) -> list[str]:
        return [row.message.id for row in any_store.query_messages(who, query)]

    newest = [m.id for m in reversed(ms)]
    assert ids(MessageQuery(limit=10)) == newest
    page = any_store.query_messages(who, MessageQuery(limit=2))
    assert len(page) == 3  # limit + 1 says there is more
    after = (time_key(page[1].message.created_at), page[1].message.id)
    assert ids(MessageQuery(limit=2, after=after)) == newest[2:5]
    assert ids(MessageQuery(sort="oldest", limit=10)) == [m.id for m in ms]
    idle = max(m.id for m in (ms[0], ms[3], ms[4]))  # no activity: last, by id
    assert ids(MessageQuery(sort="activity", limit=2)) == [ms[1].id, ms[2].id, idle]
    assert ids(MessageQuery(status="opened")) == [ms[1].id]
    assert ids(MessageQuery(status="clicked")) == [ms[2].id]
    assert ids(MessageQuery(q="renewal")) == [ms[3].id]
    assert ids(MessageQuery(q="ZED@acme")) == [ms[3].id]
    assert ids(MessageQuery(q="100%")) == []
    window = MessageQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert ids(window) == [ms[2].id, ms[1].id]
    row = any_store.query_messages(who, MessageQuery(status="opened"))[0]
    assert row.summary.human_opens == 1 and row.message.subject == "Deal 1"


def test_the_timeline_pages_newest_first_and_breaks_ties_by_id(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    same = T0 + timedelta(hours=1)
    stored = [event(m.id, same, id=f"e{i}") for i in range(3)]
    stored += [event(m.id, T0 + timedelta(hours=2 + i), id=f"f{i}") for i in range(3)]
    for e in stored:
        any_store.add_event(e)
    first = any_store.list_events_page(m.id, limit=4)
    assert [e.id for e in first] == ["f2", "f1", "f0", "e2"]
    rest = any_store.list_events_page(m.id, before=EventKey(first[-1].at, first[-1].id), limit=4)
    assert [e.id for e in rest] == ["e1", "e0"]
    assert any_store.list_events_page("nope") == []

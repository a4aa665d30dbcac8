"""The ReportingStore contract on every backend: summaries and day counters follow each
stored event (a redelivery counts nothing), the listing filters, sorts and pages by key, and
the timeline pages newest first with ties broken by id. On Firestore a search that runs out
of its scan budget hands back where to go on."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

import pytest

from mailbeacon.model import Link, Verdict
from mailbeacon.queries import EventKey, MessageQuery, time_key
from mailbeacon.store import Store
from tests.support.store_data import T0, event, message, owner


def test_summary_and_day_counters_follow_each_stored_event(store: Store) -> None:
    who = owner()
    m = replace(message(who), links=(Link(1, "https://example.com/a"),), sent_at=T0)
    store.add_message(m)
    opened = T0 + timedelta(hours=2)
    assert store.add_event(event(m.id, opened))
    store.add_event(event(m.id, opened + timedelta(seconds=5)))  # the same device again
    store.add_event(event(m.id, opened + timedelta(minutes=1), verdict=Verdict.PREFETCH))
    first_click = event(m.id, opened + timedelta(minutes=2), kind="click", link_index=1)
    store.add_event(first_click)
    assert not store.add_event(first_click)  # a redelivery counts nothing

    summary = store.get_summary(m.id)
    assert summary is not None
    assert (summary.status, summary.human_opens, summary.unique_human_opens) == ("clicked", 2, 1)
    assert (summary.machine_opens, summary.human_clicks, summary.machine_clicks) == (1, 1, 0)
    assert summary.first_opened_at == opened
    assert summary.last_activity_at == opened + timedelta(minutes=2)
    assert dict(summary.link_clicks) == {1: 1}

    day = T0.date().isoformat()
    counts = store.day_counts(who, day, day)[day]
    assert counts["messages"] == 1 and counts["opened"] == 1 and counts["clicked"] == 1
    assert counts["human_opens"] == 2 and counts["clicks"] == 1 and counts["machine_hits"] == 1
    assert counts["verdict:prefetch"] == 1 and counts[f"hour:{opened.hour}"] == 2
    assert counts["client:gmail"] == 2
    assert store.day_counts(owner(), day, day) == {}
    assert store.get_summary("nope") is None


def test_listing_filters_sorts_and_pages_by_key(store: Store) -> None:
    who, other = owner(), owner()
    ms = [
        replace(message(who, at=T0 + timedelta(minutes=i)), subject=f"Deal {i}") for i in range(5)
    ]
    ms[3] = replace(ms[3], subject="Renewal terms", recipients=("zed@acme.test",))
    for m in ms:
        store.add_message(m)
    store.add_message(message(other))
    store.add_event(event(ms[1].id, T0 + timedelta(hours=3)))
    store.add_event(event(ms[2].id, T0 + timedelta(hours=1), kind="click"))

    def ids(query: MessageQuery) -> list[str]:
        return [row.message.id for row in store.query_messages(who, query).rows]

    newest = [m.id for m in reversed(ms)]
    assert ids(MessageQuery(limit=10)) == newest
    page = store.query_messages(who, MessageQuery(limit=2))
    assert [r.message.id for r in page.rows] == newest[:2]
    second = page.rows[1].message
    assert page.next_after == (time_key(second.reference_time), second.id)
    rest = store.query_messages(who, MessageQuery(limit=3, after=page.next_after))
    assert [r.message.id for r in rest.rows] == newest[2:5] and rest.next_after is None
    assert ids(MessageQuery(sort="oldest", limit=10)) == [m.id for m in ms]
    idle = max(m.id for m in (ms[0], ms[3], ms[4]))  # no activity: last, by id
    assert ids(MessageQuery(sort="activity", limit=3)) == [ms[1].id, ms[2].id, idle]
    # statuses nest: a clicked email was opened too; "sent" is the ones not opened yet
    assert ids(MessageQuery(status="opened")) == [ms[2].id, ms[1].id]
    assert ids(MessageQuery(status="clicked")) == [ms[2].id]
    assert ids(MessageQuery(status="sent")) == [ms[4].id, ms[3].id, ms[0].id]
    assert ids(MessageQuery(status="replied")) == []
    assert ids(MessageQuery(status="opened", sort="oldest")) == [ms[1].id, ms[2].id]
    assert ids(MessageQuery(q="renewal")) == [ms[3].id]
    assert ids(MessageQuery(q="ZED@acme")) == [ms[3].id]
    assert ids(MessageQuery(q="100%")) == []
    window = MessageQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert ids(window) == [ms[2].id, ms[1].id]
    # a period sorted by last activity (Firestore cannot order a range query by another field)
    by_activity = MessageQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=4),
                               sort="activity", limit=10)  # fmt: skip
    assert ids(by_activity) == [ms[1].id, ms[2].id, ms[3].id]
    row = store.query_messages(who, MessageQuery(status="opened")).rows[1]
    assert row.summary.human_opens == 1 and row.message.subject == "Deal 1"


def test_the_list_orders_and_filters_by_the_time_it_shows_sent_else_tracked(
    store: Store,
) -> None:
    """The column says Sent: From/To and the order follow the send time where it is known
    (an email tracked on Monday and sent on Friday is Friday's), else the time it was tracked."""
    who = owner()
    monday = message(who, at=T0)
    friday = replace(message(who, at=T0 + timedelta(hours=1)), sent_at=T0 + timedelta(days=4))
    later = message(who, at=T0 + timedelta(hours=2))  # sent when the watch says so (below)
    for m in (monday, friday, later):
        store.add_message(m)
    store.record_sent(later.id, sent_at=T0 + timedelta(days=2), recipients=later.recipients)

    def ids(query: MessageQuery) -> list[str]:
        return [row.message.id for row in store.query_messages(who, query).rows]

    assert ids(MessageQuery()) == [friday.id, later.id, monday.id]
    week_end = MessageQuery(since=T0 + timedelta(days=3), until=T0 + timedelta(days=5))
    assert ids(week_end) == [friday.id]
    assert ids(MessageQuery(until=T0 + timedelta(days=1))) == [monday.id]
    page = store.query_messages(who, MessageQuery(limit=1))
    assert page.next_after == (time_key(friday.sent_at), friday.id)
    assert ids(MessageQuery(limit=5, after=page.next_after)) == [later.id, monday.id]


def test_the_timeline_pages_newest_first_and_breaks_ties_by_id(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    same = T0 + timedelta(hours=1)
    stored = [event(m.id, same, id=f"e{i}") for i in range(3)]
    stored += [event(m.id, T0 + timedelta(hours=2 + i), id=f"f{i}") for i in range(3)]
    for e in stored:
        store.add_event(e)
    first = store.list_events_page(m.id, limit=4)
    assert [e.id for e in first] == ["f2", "f1", "f0", "e2"]
    rest = store.list_events_page(m.id, before=EventKey(first[-1].at, first[-1].id), limit=4)
    assert [e.id for e in rest] == ["e1", "e0"]
    assert store.list_events_page("nope") == []


@pytest.mark.emulators
def test_a_firestore_search_that_runs_out_of_budget_hands_back_where_to_go_on(
    emulators: object,
) -> None:
    from mailbeacon.store.firestore import FirestoreStore
    from tests.support.emulators import PROJECT

    store = FirestoreStore(project=PROJECT, prefix=f"s{secrets.token_hex(4)}_", search_scan=3)
    who = owner()
    ms = [
        replace(message(who, at=T0 + timedelta(minutes=i)), subject=f"Deal {i}") for i in range(8)
    ]
    ms[0] = replace(ms[0], subject="Needle")
    for m in ms:
        store.add_message(m)
    page = store.query_messages(who, MessageQuery(q="needle", limit=5))
    assert page.rows == [] and page.next_after is not None  # 3 scanned, none matched
    found: list[str] = []
    while page.next_after is not None:
        page = store.query_messages(who, MessageQuery(q="needle", limit=5, after=page.next_after))
        found += [r.message.id for r in page.rows]
    assert found == [ms[0].id]


def test_search_matches_any_part_of_the_subject_or_a_recipient_as_they_are_now(
    store: Store,
) -> None:
    """``q`` is a substring of the subject or a recipient, in any case: after a send replaced
    the recipients the old ones no longer match, and a deleted email matches nothing."""
    who = owner()
    renewal = replace(
        message(who, at=T0), subject="Quarterly RENEWAL", recipients=("zoë.ng@acme.test",)
    )
    lunch = replace(
        message(who, at=T0 + timedelta(minutes=1)), subject="Lunch", recipients=("bo@x.test",)
    )
    for m in (renewal, lunch, replace(message(owner()), subject="Renewal elsewhere")):
        store.add_message(m)

    def ids(q: str) -> list[str]:
        return [row.message.id for row in store.query_messages(who, MessageQuery(q=q)).rows]

    assert ids("renewal") == ids("NEWA") == ids("ZOË.NG@") == ids("ë.n") == [renewal.id]
    assert ids("lu") == [lunch.id]  # shorter than the search index's grams
    assert ids("l") == [lunch.id, renewal.id]
    assert ids("renewal lunch") == ids('"') == ids("zoë.ng@acme.test\nx") == []
    store.record_sent(
        lunch.id, sent_at=T0 + timedelta(days=1), recipients=("renewal-desk@corp.test",)
    )
    assert ids("renewal") == [lunch.id, renewal.id]
    assert ids("bo@x") == []
    store.delete_message(renewal.id)
    assert ids("renewal") == [lunch.id] and ids("zoë") == []

"""One contract for every Store, run on every backend in STORE_FACTORIES (memory, SQLite, and
Firestore on its emulator, marked ``emulators``): messages, events, self-views, settings, the
one-read classification context, records (ids and keys awkward for a document store, prefix
listing in key order), and the dashboard's reads (summaries and day counters kept as events
arrive, keyed paging, the timeline's pages), and what domain policies and privacy need
(policies and their audit log, events purged by domain and age, one user's data deleted)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.errors import UnknownMessage
from mailbeacon.model import (
    Event,
    Link,
    Message,
    Notify,
    QuietHours,
    Settings,
    Strictness,
    Verdict,
)
from mailbeacon.policy import (
    PolicyChange,
    audit_log,
    domain_senders,
    get_policy,
    register_sender,
    update_policy,
)
from mailbeacon.queries import EventKey, MessageQuery, time_key
from mailbeacon.rollup import day_of
from mailbeacon.store import Storage, Store
from mailbeacon.tokens import new_message_id

T0 = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)


def owner() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}@example.com"


def message(
    who: str, *, at: datetime = T0, links: tuple[Link, ...] = (), sent_at: datetime | None = None
) -> Message:
    return Message(
        id=new_message_id(),
        owner=who,
        recipients=("a@example.org", "b@example.org"),
        subject="Quarterly numbers",
        created_at=at,
        sent_at=sent_at,
        links=links,
    )


def event(message_id: str, at: datetime, *, verdict: Verdict = Verdict.HUMAN, **kw) -> Event:  # type: ignore[no-untyped-def]
    return Event(
        id=kw.pop("id", uuid.uuid4().hex),
        message_id=message_id,
        kind=kw.pop("kind", "open"),
        at=at,
        verdict=verdict,
        reasons=("gmail-image-proxy",),
        client="gmail",
        ip_hash="abc",
        network="203.0.113.0/24",
        user_agent="UA",
        expires_at=kw.pop("expires_at", at + timedelta(days=180)),
        **kw,
    )


def test_messages_round_trip_with_links(any_store: Store) -> None:
    m = message(owner(), links=(Link(1, "https://example.com/a"), Link(2, "https://x.org/?q=1")))
    any_store.add_message(m)
    assert any_store.get_message(m.id) == m
    assert any_store.get_message(new_message_id()) is None


def test_links_are_appended_with_the_next_index(any_store: Store) -> None:
    m = message(owner(), links=(Link(1, "https://example.com/a"),))
    any_store.add_message(m)
    assert any_store.add_link(m.id, "https://example.com/b") == Link(2, "https://example.com/b")
    assert [lk.index for lk in any_store.get_message(m.id).links] == [1, 2]  # type: ignore[union-attr]
    with pytest.raises(UnknownMessage):
        any_store.add_link(new_message_id(), "https://example.com/c")


def test_mark_sent_sets_the_time_once(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    any_store.mark_sent(m.id, T0 + timedelta(minutes=5))
    any_store.mark_sent(m.id, T0 + timedelta(minutes=9))
    assert any_store.get_message(m.id).sent_at == T0 + timedelta(minutes=5)  # type: ignore[union-attr]


def test_list_messages_is_per_owner_newest_first_and_pages(any_store: Store) -> None:
    me, other = owner(), owner()
    mine = [message(me, at=T0 + timedelta(minutes=i)) for i in range(5)]
    for m in [*mine, message(other)]:
        any_store.add_message(m)
    first = any_store.list_messages(me, limit=3)
    assert [m.id for m in first] == [m.id for m in reversed(mine)][:3]
    rest = any_store.list_messages(me, limit=3, before=first[-1].created_at)
    assert [m.id for m in rest] == [mine[1].id, mine[0].id]
    assert any_store.list_messages(me.upper(), limit=10)[0].owner == me


def test_events_are_stored_once_and_listed_in_time_order(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    late = event(m.id, T0 + timedelta(minutes=2), id="late")
    early = event(
        m.id,
        T0 + timedelta(minutes=1),
        id="early",
        kind="click",
        link_index=1,
        url="https://e.com/",
    )
    assert any_store.add_event(late) is True
    assert any_store.add_event(early) is True
    assert any_store.add_event(late) is False  # redelivery
    assert any_store.list_events(m.id) == [early, late]
    assert any_store.list_events(new_message_id()) == []


def test_expired_events_are_hidden_and_purged(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    now = datetime.now(UTC)
    gone = event(m.id, now - timedelta(days=200), expires_at=now - timedelta(days=20))
    kept = event(m.id, now - timedelta(days=1))
    any_store.add_event(gone)
    any_store.add_event(kept)
    assert [e.id for e in any_store.list_events(m.id)] == [kept.id]
    any_store.purge_expired(now)
    assert [e.id for e in any_store.list_events(m.id)] == [kept.id]


def test_self_views_accumulate_in_order(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    any_store.add_self_view(m.id, T0 + timedelta(minutes=3))
    any_store.add_self_view(m.id, T0 + timedelta(minutes=1))
    assert any_store.list_self_views(m.id) == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]


def test_settings_default_then_round_trip(any_store: Store) -> None:
    who = owner()
    assert any_store.get_settings(who) == Settings(user=who)
    settings = Settings(
        user=who,
        notify=Notify.EVERY_OPEN,
        slack_webhook="https://hooks.slack.com/services/T/B/X",
        quiet_hours=QuietHours(22, 7),
        timezone="Europe/Paris",
        muted=("m1",),
        problems=("slack: invalid_auth",),
    )
    any_store.put_settings(settings)
    assert any_store.get_settings(who.upper()) == settings


def test_records_insert_if_absent_put_list_delete(any_store: Store) -> None:
    ns = f"ns-{uuid.uuid4().hex[:6]}"
    assert any_store.get_record(ns, "a") is None
    assert any_store.add_record(ns, "a/1", {"n": 1}) is True
    assert any_store.add_record(ns, "a/1", {"n": 2}) is False
    any_store.put_record(ns, "a/2", {"n": 3, "nested": {"x": [1, 2]}})
    any_store.put_record(ns, "b/1", {"n": 4})
    assert any_store.get_record(ns, "a/1") == {"n": 1}
    assert [k for k, _ in any_store.list_records(ns, "a/")] == ["a/1", "a/2"]
    any_store.put_record(ns, "a/1", {"n": 5})
    any_store.delete_record(ns, "a/2")
    assert any_store.list_records(ns, "a/") == [("a/1", {"n": 5})]


def test_list_events_with_a_limit_keeps_the_latest_in_time_order(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    events = [event(m.id, T0 + timedelta(seconds=i), id=f"e{i:02}") for i in range(12)]
    for e in reversed(events):
        any_store.add_event(e)
    assert any_store.list_events(m.id, limit=5) == events[-5:]
    assert any_store.list_events(m.id, limit=50) == events
    assert any_store.list_events(m.id) == events


def test_awkward_ids_are_just_unknown(any_store: Store) -> None:
    m = message(owner(), sent_at=T0 + timedelta(minutes=1))
    any_store.add_message(m)
    assert any_store.get_message(m.id) == m
    assert any_store.get_message("no-such-message") is None
    assert any_store.get_message("with/slash") is None


def test_self_views_are_listed_in_time_order(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    any_store.add_self_view(m.id, T0 + timedelta(minutes=7))
    any_store.add_self_view(m.id, T0 + timedelta(minutes=2))
    assert any_store.list_self_views(m.id) == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=7)]
    assert any_store.list_self_views("unknown") == []


def test_context_brings_message_events_self_views_and_strictness(any_store: Store) -> None:
    m = message(owner())
    any_store.add_message(m)
    any_store.put_settings(Settings(user=m.owner, strictness=Strictness.STRICT))
    events = [event(m.id, T0 + timedelta(seconds=s)) for s in (30, 10, 20)]
    for e in events:
        any_store.add_event(e)
    any_store.add_self_view(m.id, T0 + timedelta(minutes=1))
    context = any_store.get_context(m.id)
    assert context is not None
    assert context.message == m
    assert list(context.earlier) == sorted(events, key=lambda e: e.at)
    assert context.self_views == (T0 + timedelta(minutes=1),)
    assert context.strictness is Strictness.STRICT
    assert any_store.get_context("unknown") is None


def test_record_keys_with_slashes_and_dots(any_store: Store) -> None:
    ns = f"ns-{secrets.token_hex(3)}"
    value = {"team": "T1", "nested": {"list": [[1, 2], ["x"]]}, "n": 1.5, "none": None}
    assert any_store.get_record(ns, "a/b.c") is None
    any_store.put_record(ns, "a/b.c", value)
    assert any_store.get_record(ns, "a/b.c") == value
    assert any_store.add_record(ns, "a/b.c", {"other": 1}) is False
    assert any_store.get_record(ns, "a/b.c") == value
    assert any_store.add_record(ns, "..", {"dots": True}) is True
    any_store.put_record(ns, "a/b.c", {"v": 2})
    assert any_store.get_record(ns, "a/b.c") == {"v": 2}
    any_store.delete_record(ns, "a/b.c")
    any_store.delete_record(ns, "never-there")
    assert any_store.get_record(ns, "a/b.c") is None
    assert any_store.get_record(ns, "..") == {"dots": True}


def test_records_list_by_prefix_in_key_order(any_store: Store) -> None:
    ns = f"ns-{secrets.token_hex(3)}"
    for key in ("user:b", "user:a", "userx", "team:1", "user:ü"):
        any_store.put_record(ns, key, {"k": key})
    any_store.put_record(ns + "-other", "user:z", {"k": "elsewhere"})
    assert [k for k, _ in any_store.list_records(ns, "user:")] == ["user:a", "user:b", "user:ü"]
    assert [k for k, _ in any_store.list_records(ns)] == [
        "team:1",
        "user:a",
        "user:b",
        "user:ü",
        "userx",
    ]
    assert any_store.list_records(ns, "user:a") == [("user:a", {"k": "user:a"})]
    assert any_store.list_records(ns, "none") == []


# The dashboard's reads ----------------------------------------------------------------------------


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
        return [row.message.id for row in any_store.query_messages(who, query).rows]

    newest = [m.id for m in reversed(ms)]
    assert ids(MessageQuery(limit=10)) == newest
    page = any_store.query_messages(who, MessageQuery(limit=2))
    assert [r.message.id for r in page.rows] == newest[:2]
    assert page.next_after == (time_key(page.rows[1].message.created_at), page.rows[1].message.id)
    rest = any_store.query_messages(who, MessageQuery(limit=3, after=page.next_after))
    assert [r.message.id for r in rest.rows] == newest[2:5] and rest.next_after is None
    assert ids(MessageQuery(sort="oldest", limit=10)) == [m.id for m in ms]
    idle = max(m.id for m in (ms[0], ms[3], ms[4]))  # no activity: last, by id
    assert ids(MessageQuery(sort="activity", limit=3)) == [ms[1].id, ms[2].id, idle]
    assert ids(MessageQuery(status="opened")) == [ms[1].id]
    assert ids(MessageQuery(status="clicked")) == [ms[2].id]
    assert ids(MessageQuery(q="renewal")) == [ms[3].id]
    assert ids(MessageQuery(q="ZED@acme")) == [ms[3].id]
    assert ids(MessageQuery(q="100%")) == []
    window = MessageQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert ids(window) == [ms[2].id, ms[1].id]
    row = any_store.query_messages(who, MessageQuery(status="opened")).rows[0]
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


# Domain policies and privacy ---------------------------------------------------------------
NOW = datetime.now(UTC).replace(microsecond=0)


def domain() -> str:
    """A fresh domain, so tests never share policies on the emulator."""
    return f"d{uuid.uuid4().hex[:8]}.test"


def aged_message(owner: str, *, days_ago: int = 50) -> Message:
    return Message(
        id=new_message_id(),
        owner=owner,
        recipients=("bo@example.org",),
        subject="Plan",
        created_at=NOW - timedelta(days=days_ago),
        links=(Link(1, "https://example.com/a"),),
    )


def aged_event(message_id: str, days_ago: float) -> Event:
    at = NOW - timedelta(days=days_ago)
    return Event(
        uuid.uuid4().hex, message_id, "open", at, Verdict.HUMAN, ("r",), "gmail",
        ip_hash="h", network="203.0.113.0/24", user_agent="UA", expires_at=at + timedelta(days=180),
    )  # fmt: skip


def test_a_policy_and_its_audit_log_round_trip(any_store: Storage) -> None:
    name = domain()
    assert get_policy(any_store, name).tracking is True  # the defaults, never saved
    update_policy(any_store, name, PolicyChange(tracking=False), actor="a@x.test", at=NOW)
    later = NOW + timedelta(seconds=1)
    update_policy(
        any_store, name, PolicyChange(retention_days=30, admins=["B@x.test"]), actor="b", at=later
    )
    policy = get_policy(any_store, name)
    assert (policy.tracking, policy.retention_days, policy.admins) == (False, 30, ("b@x.test",))
    assert (policy.updated_by, policy.updated_at) == ("b", later)
    entries = audit_log(any_store, name)
    assert [(e.actor, sorted(e.changes)) for e in entries] == [
        ("a@x.test", ["tracking"]),
        ("b", ["admins", "retention_days"]),
    ]
    assert entries[0].changes["tracking"] == {"from": True, "to": False}
    assert audit_log(any_store, domain()) == []  # another domain's log is its own
    # An unchanged policy writes no entry.
    update_policy(any_store, name, PolicyChange(tracking=False), actor="c", at=later)
    assert len(audit_log(any_store, name)) == 2


def test_senders_are_listed_per_domain(any_store: Storage) -> None:
    name = domain()
    for who in (f"ann@{name}", f"ben@{name}", f"ann@{name}", f"zed@{domain()}"):
        register_sender(any_store, who)
    assert domain_senders(any_store, name) == [f"ann@{name}", f"ben@{name}"]


def test_purge_domain_removes_only_that_domains_older_events(any_store: Storage) -> None:
    name, other = domain(), domain()
    mine, theirs = aged_message(f"ann@{name}"), aged_message(f"zed@{other}")
    any_store.add_message(mine)
    any_store.add_message(theirs)
    for m in (mine, theirs):
        any_store.add_event(aged_event(m.id, 40))
        any_store.add_event(aged_event(m.id, 2))
    assert any_store.purge_domain(name, NOW - timedelta(days=30)) == 1
    assert [e.at for e in any_store.list_events(mine.id)] == [NOW - timedelta(days=2)]
    context = any_store.get_context(mine.id)  # the classifier's copy is purged as well
    assert context is not None and [e.at for e in context.earlier] == [NOW - timedelta(days=2)]
    assert len(any_store.list_events(theirs.id)) == 2


def test_delete_user_removes_everything_of_theirs_and_nothing_else(any_store: Storage) -> None:
    name = domain()
    ann, ben = f"ann@{name}", f"ben@{name}"
    gone = [aged_message(ann), aged_message(ann, days_ago=3)]
    kept = aged_message(ben)
    for m in (*gone, kept):
        any_store.add_message(m)
        any_store.add_event(aged_event(m.id, 1))
        any_store.add_self_view(m.id, NOW)
    any_store.put_settings(Settings(user=ann, email_to=ann))
    any_store.put_settings(Settings(user=ben, email_to=ben))

    removed = any_store.delete_user(ann.upper())
    assert removed.message_ids == sorted(m.id for m in gone)
    assert len(removed.event_ids) == 2 and removed.settings == 1
    for m in gone:
        assert any_store.get_message(m.id) is None
        assert any_store.list_events(m.id) == []
        assert any_store.get_summary(m.id) is None
    assert any_store.list_messages(ann) == []
    assert any_store.get_settings(ann) == Settings(user=ann)
    first, last = day_of(NOW - timedelta(days=60)), day_of(NOW + timedelta(days=1))
    assert any_store.day_counts(ann, first, last) == {}
    # Ben's data is untouched.
    assert any_store.get_message(kept.id) == kept
    assert len(any_store.list_events(kept.id)) == 1
    assert any_store.get_settings(ben).email_to == ben
    assert any_store.day_counts(ben, first, last) != {}
    assert any_store.delete_user(ann).message_ids == []  # twice is harmless


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

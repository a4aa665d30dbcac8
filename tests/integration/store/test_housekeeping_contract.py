"""The Housekeeping contract on every backend: expired events are hidden (and purged where
the backend purges: Firestore leaves it to its TTL policy), a domain's retention removes only
that domain's older events (the classifier's copy too), and deleting a user removes
everything of theirs and nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mailbeacon.model import Settings
from mailbeacon.rollup import day_of
from mailbeacon.store import Store
from tests.support.store_data import NOW, aged_event, aged_message, domain, event, message, owner


def test_expired_events_are_hidden_and_purged(store: Store) -> None:
    m = message(owner())
    store.add_message(m)
    now = datetime.now(UTC)
    gone = event(m.id, now - timedelta(days=200), expires_at=now - timedelta(days=20))
    kept = event(m.id, now - timedelta(days=1))
    store.add_event(gone)
    store.add_event(kept)
    assert [e.id for e in store.list_events(m.id)] == [kept.id]
    store.purge_expired(now)
    assert [e.id for e in store.list_events(m.id)] == [kept.id]


def test_purge_domain_removes_only_that_domains_older_events(store: Store) -> None:
    name, other = domain(), domain()
    mine, theirs = aged_message(f"ann@{name}"), aged_message(f"zed@{other}")
    store.add_message(mine)
    store.add_message(theirs)
    for m in (mine, theirs):
        store.add_event(aged_event(m.id, 40))
        store.add_event(aged_event(m.id, 2))
    assert store.purge_domain(name, NOW - timedelta(days=30)) == 1
    assert [e.at for e in store.list_events(mine.id)] == [NOW - timedelta(days=2)]
    context = store.get_context(mine.id)  # the classifier's copy is purged as well
    assert context is not None and [e.at for e in context.earlier] == [NOW - timedelta(days=2)]
    assert len(store.list_events(theirs.id)) == 2


def test_delete_user_removes_everything_of_theirs_and_nothing_else(store: Store) -> None:
    name = domain()
    ann, ben = f"ann@{name}", f"ben@{name}"
    gone = [aged_message(ann), aged_message(ann, days_ago=3)]
    kept = aged_message(ben)
    for m in (*gone, kept):
        store.add_message(m)
        store.add_event(aged_event(m.id, 1))
        store.add_self_view(m.id, NOW)
    store.put_settings(Settings(user=ann, email_to=ann))
    store.put_settings(Settings(user=ben, email_to=ben))

    removed = store.delete_user(ann.upper())
    assert removed.message_ids == sorted(m.id for m in gone)
    assert len(removed.event_ids) == 2 and removed.settings == 1
    for m in gone:
        assert store.get_message(m.id) is None
        assert store.list_events(m.id) == []
        assert store.get_summary(m.id) is None
    assert store.list_messages(ann) == []
    assert store.get_settings(ann) == Settings(user=ann)
    first, last = day_of(NOW - timedelta(days=60)), day_of(NOW + timedelta(days=1))
    assert store.day_counts(ann, first, last) == {}
    # Ben's data is untouched.
    assert store.get_message(kept.id) == kept
    assert len(store.list_events(kept.id)) == 1
    assert store.get_settings(ben).email_to == ben
    assert store.day_counts(ben, first, last) != {}
    assert store.delete_user(ann).message_ids == []  # twice is harmless


def test_delete_message_removes_one_email_and_what_it_added_to_the_counters(store: Store) -> None:
    who = owner()
    gone, kept = aged_message(who, days_ago=5), aged_message(who, days_ago=5)
    for m in (gone, kept):
        store.add_message(m)
        store.add_event(aged_event(m.id, 4))
        store.add_event(replace(aged_event(m.id, 4), kind="click", link_index=1))
    first, last = day_of(NOW - timedelta(days=6)), day_of(NOW)
    before = store.day_counts(who, first, last)
    removed = store.delete_message(gone.id)
    assert removed.message_ids == [gone.id] and len(removed.event_ids) == 2
    assert store.get_message(gone.id) is None and store.get_summary(gone.id) is None
    assert store.list_events(gone.id) == [] and store.list_events_page(gone.id) == []
    after = store.day_counts(who, first, last)
    tracked, hit = day_of(gone.created_at), day_of(NOW - timedelta(days=4))
    assert after[tracked]["messages"] == before[tracked]["messages"] - 1 == 1
    assert after[tracked]["opened"] == 1 and after[tracked]["clicked"] == 1
    assert after[hit]["human_opens"] == 1 and after[hit]["clicks"] == 1
    assert store.get_summary(kept.id) is not None and len(store.list_events(kept.id)) == 2
    assert store.delete_message(gone.id).message_ids == []  # already gone: nothing

"""The contract for what domain policies and privacy need of every Store: policies and their
audit log in the records, events purged by domain and age, everything of one user deleted.
Runs on memory, SQLite and (with its emulator) Firestore."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from mailbeacon.model import Event, Link, Message, Settings, Verdict
from mailbeacon.policy import (
    PolicyChange,
    audit_log,
    domain_senders,
    get_policy,
    register_sender,
    update_policy,
)
from mailbeacon.rollup import day_of
from mailbeacon.store import Storage
from mailbeacon.tokens import new_message_id

NOW = datetime.now(UTC).replace(microsecond=0)


def domain() -> str:
    return f"d{uuid.uuid4().hex[:8]}.test"


def message(owner: str, *, days_ago: int = 50) -> Message:
    return Message(
        id=new_message_id(),
        owner=owner,
        recipients=("bo@example.org",),
        subject="Plan",
        created_at=NOW - timedelta(days=days_ago),
        links=(Link(1, "https://example.com/a"),),
    )


def event(message_id: str, days_ago: float) -> Event:
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
    mine, theirs = message(f"ann@{name}"), message(f"zed@{other}")
    any_store.add_message(mine)
    any_store.add_message(theirs)
    for m in (mine, theirs):
        any_store.add_event(event(m.id, 40))
        any_store.add_event(event(m.id, 2))
    assert any_store.purge_domain(name, NOW - timedelta(days=30)) == 1
    assert [e.at for e in any_store.list_events(mine.id)] == [NOW - timedelta(days=2)]
    assert len(any_store.list_events(theirs.id)) == 2


def test_delete_user_removes_everything_of_theirs_and_nothing_else(any_store: Storage) -> None:
    name = domain()
    ann, ben = f"ann@{name}", f"ben@{name}"
    gone = [message(ann), message(ann, days_ago=3)]
    kept = message(ben)
    for m in (*gone, kept):
        any_store.add_message(m)
        any_store.add_event(event(m.id, 1))
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

"""The Records contract on every backend's Records part, built alone: insert-if-absent, put,
list and delete; keys and ids awkward for a document store (slashes, dots); prefix listing in
key order; and what domain policies keep there (a policy and its audit log, a domain's
senders). A whole store answers for its Records part too."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from mailbeacon.policy import (
    PolicyChange,
    audit_log,
    domain_senders,
    get_policy,
    register_sender,
    update_policy,
)
from mailbeacon.records import Records
from mailbeacon.store import Store
from tests.support.store_data import NOW, domain


def test_records_insert_if_absent_put_list_delete(records: Records) -> None:
    ns = f"ns-{uuid.uuid4().hex[:6]}"
    assert records.get_record(ns, "a") is None
    assert records.add_record(ns, "a/1", {"n": 1}) is True
    assert records.add_record(ns, "a/1", {"n": 2}) is False
    records.put_record(ns, "a/2", {"n": 3, "nested": {"x": [1, 2]}})
    records.put_record(ns, "b/1", {"n": 4})
    assert records.get_record(ns, "a/1") == {"n": 1}
    assert [k for k, _ in records.list_records(ns, "a/")] == ["a/1", "a/2"]
    records.put_record(ns, "a/1", {"n": 5})
    records.delete_record(ns, "a/2")
    assert records.list_records(ns, "a/") == [("a/1", {"n": 5})]


def test_record_keys_with_slashes_and_dots(records: Records) -> None:
    ns = f"ns-{secrets.token_hex(3)}"
    value = {"team": "T1", "nested": {"list": [[1, 2], ["x"]]}, "n": 1.5, "none": None}
    assert records.get_record(ns, "a/b.c") is None
    records.put_record(ns, "a/b.c", value)
    assert records.get_record(ns, "a/b.c") == value
    assert records.add_record(ns, "a/b.c", {"other": 1}) is False
    assert records.get_record(ns, "a/b.c") == value
    assert records.add_record(ns, "..", {"dots": True}) is True
    records.put_record(ns, "a/b.c", {"v": 2})
    assert records.get_record(ns, "a/b.c") == {"v": 2}
    records.delete_record(ns, "a/b.c")
    records.delete_record(ns, "never-there")
    assert records.get_record(ns, "a/b.c") is None
    assert records.get_record(ns, "..") == {"dots": True}


def test_records_list_by_prefix_in_key_order(records: Records) -> None:
    ns = f"ns-{secrets.token_hex(3)}"
    for key in ("user:b", "user:a", "userx", "team:1", "user:ü"):
        records.put_record(ns, key, {"k": key})
    records.put_record(ns + "-other", "user:z", {"k": "elsewhere"})
    assert [k for k, _ in records.list_records(ns, "user:")] == ["user:a", "user:b", "user:ü"]
    assert [k for k, _ in records.list_records(ns)] == [
        "team:1",
        "user:a",
        "user:b",
        "user:ü",
        "userx",
    ]
    assert records.list_records(ns, "user:a") == [("user:a", {"k": "user:a"})]
    assert records.list_records(ns, "none") == []
    # A bounded listing: the first keys in order, with or without a prefix.
    assert [k for k, _ in records.list_records(ns, limit=2)] == ["team:1", "user:a"]
    assert [k for k, _ in records.list_records(ns, "user:", limit=2)] == ["user:a", "user:b"]
    assert records.list_records(ns, "user:", limit=0) == []


def test_a_policy_and_its_audit_log_round_trip(records: Records) -> None:
    name = domain()
    assert get_policy(records, name).tracking is True  # the defaults, never saved
    update_policy(records, name, PolicyChange(tracking=False), actor="a@x.test", at=NOW)
    later = NOW + timedelta(seconds=1)
    update_policy(
        records, name, PolicyChange(retention_days=30, admins=["B@x.test"]), actor="b", at=later
    )
    policy = get_policy(records, name)
    assert (policy.tracking, policy.retention_days, policy.admins) == (False, 30, ("b@x.test",))
    assert (policy.updated_by, policy.updated_at) == ("b", later)
    entries = audit_log(records, name)
    assert [(e.actor, sorted(e.changes)) for e in entries] == [
        ("a@x.test", ["tracking"]),
        ("b", ["admins", "retention_days"]),
    ]
    assert entries[0].changes["tracking"] == {"from": True, "to": False}
    assert audit_log(records, domain()) == []  # another domain's log is its own
    # An unchanged policy writes no entry.
    update_policy(records, name, PolicyChange(tracking=False), actor="c", at=later)
    assert len(audit_log(records, name)) == 2


def test_senders_are_listed_per_domain(records: Records) -> None:
    name = domain()
    for who in (f"ann@{name}", f"ben@{name}", f"ann@{name}", f"zed@{domain()}"):
        register_sender(records, who)
    assert domain_senders(records, name) == [f"ann@{name}", f"ben@{name}"]


def test_a_store_answers_for_its_records_part(store: Store) -> None:
    """Consumers that take the whole store for both see what the part alone keeps."""
    ns = f"ns-{secrets.token_hex(3)}"
    store.records.put_record(ns, "from-part", {"n": 1})
    assert store.add_record(ns, "from-store", {"n": 2}) is True
    assert store.get_record(ns, "from-part") == {"n": 1}
    assert store.records.list_records(ns) == [("from-part", {"n": 1}), ("from-store", {"n": 2})]
    store.delete_record(ns, "from-part")
    assert store.records.get_record(ns, "from-part") is None

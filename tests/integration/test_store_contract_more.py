"""More of the Store contract, run on every backend in STORE_FACTORIES (memory, SQLite and
Firestore through its emulator): the one-read classification context, ids and record keys that
are awkward for a document store, and prefix listing in key order."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from mailbeacon.model import Event, Link, Message, Settings, Strictness, Verdict
from mailbeacon.store import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def message(owner: str = "ann@example.com", at: datetime = T0, **kw: object) -> Message:
    values: dict[str, object] = {
        "id": secrets.token_urlsafe(12),
        "owner": owner,
        "recipients": ("bob@example.com", "cy@example.org"),
        "subject": "Proposal",
        "created_at": at,
        "links": (Link(1, "https://example.com/deck"),),
    }
    values.update(kw)
    return Message(**values)  # type: ignore[arg-type]


def event(message_id: str, at: datetime, **kw: object) -> Event:
    values: dict[str, object] = {
        "id": secrets.token_hex(12),
        "message_id": message_id,
        "kind": "open",
        "at": at,
        "verdict": Verdict.HUMAN,
        "reasons": ("gmail-image-proxy",),
        "client": "gmail",
        "ip_hash": "abc",
        "network": "66.249.0.0/24",
        "user_agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)",
        "expires_at": datetime.now(UTC) + timedelta(days=180),
    }
    values.update(kw)
    return Event(**values)  # type: ignore[arg-type]


def test_awkward_ids_are_just_unknown(any_store: Store) -> None:
    m = message(sent_at=T0 + timedelta(minutes=1))
    any_store.add_message(m)
    assert any_store.get_message(m.id) == m
    assert any_store.get_message("no-such-message") is None
    assert any_store.get_message("with/slash") is None


def test_self_views_are_listed_in_time_order(any_store: Store) -> None:
    m = message()
    any_store.add_message(m)
    any_store.add_self_view(m.id, T0 + timedelta(minutes=7))
    any_store.add_self_view(m.id, T0 + timedelta(minutes=2))
    assert any_store.list_self_views(m.id) == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=7)]
    assert any_store.list_self_views("unknown") == []


def test_context_brings_message_events_self_views_and_strictness(any_store: Store) -> None:
    m = message(owner=f"{secrets.token_hex(4)}@example.com")
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

"""Use cases on the in-memory fakes: what a user would see, without I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.bus.memory import MemoryBus
from mailbeacon.classify import classify
from mailbeacon.clock import FixedClock
from mailbeacon.errors import InvalidInput, UnknownMessage
from mailbeacon.hits import build_hit, parse_address
from mailbeacon.pipeline import process_hit, record_hit
from mailbeacon.stats import get_stats
from mailbeacon.store.memory import MemoryStore
from mailbeacon.tokens import Keyring, TokenSigner
from mailbeacon.tracking import add_link, track_message
from mailbeacon.urls import Urls
from mailbeacon.validation import check_link

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
SIGNER = TokenSigner(Keyring.parse("1:unit-test-secret-0123456789"))
URLS = Urls("https://t.example.com/", SIGNER)


def hit_for(url: str, clock: FixedClock, *, ua: str = GMAIL, method: str = "GET"):  # type: ignore[no-untyped-def]
    token = url.rsplit("/", 1)[1].removesuffix(".gif")
    return build_hit(
        SIGNER.verify(token),
        method=method,
        headers={"User-Agent": ua},
        address=parse_address("198.51.100.20"),
        at=clock.now(),
        ip_key=b"k" * 32,
    )


def test_track_validates_before_writing(clock: FixedClock) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput):
        track_message(
            store,
            URLS,
            clock,
            records=store,
            sender="a@example.com",
            recipients=["b@example.org"],
            links=["ftp://x"],
        )
    with pytest.raises(InvalidInput):
        track_message(store, URLS, clock, records=store, sender="a@example.com", recipients=[])
    assert store.list_messages("a@example.com") == []


def test_track_dedupes_recipients_and_signs_urls_under_the_base(clock: FixedClock) -> None:
    tracked = track_message(
        MemoryStore(),
        URLS,
        clock,
        records=MemoryStore(),
        sender="A@Example.com",
        recipients=["b@example.org", "B@example.org"],
        links=["https://example.com/x"],
    )
    assert tracked.message.recipients == ("b@example.org",)
    assert tracked.message.owner == "a@example.com"
    assert tracked.pixel_url.startswith("https://t.example.com/p/")
    assert tracked.links[0][1].startswith("https://t.example.com/c/")


def test_iri_links_are_stored_percent_encoded() -> None:
    assert check_link("https://example.com/café?q=ü") == "https://example.com/caf%C3%A9?q=%C3%BC"


def test_a_hit_becomes_one_event_however_often_it_is_delivered(clock: FixedClock) -> None:
    store, bus = MemoryStore(), MemoryBus()
    tracked = track_message(
        store, URLS, clock, records=store, sender="a@example.com", recipients=["b@example.org"]
    )
    clock.advance(hours=1)
    record_hit(bus, hit_for(tracked.pixel_url, clock))
    [payload] = bus.on(HITS)
    for _ in range(5):
        process_hit(store, bus, classify, payload)
    stats = get_stats(store, tracked.message.id)
    assert stats["opens"]["human"] == 1 and len(stats["events"]) == 1
    # every delivery hands the event to the (idempotent) notifier: no alert is lost to a crash
    assert {p["event_id"] for p in bus.on(NOTIFY)} == {payload["id"]}


def test_machine_hits_are_stored_but_never_notified(clock: FixedClock) -> None:
    store, bus = MemoryStore(), MemoryBus()
    tracked = track_message(
        store, URLS, clock, records=store, sender="a@example.com", recipients=["b@example.org"]
    )
    clock.advance(hours=1)
    record_hit(bus, hit_for(tracked.pixel_url, clock, ua="", method="GET"))
    process_hit(store, bus, classify, bus.on(HITS)[0])
    stats = get_stats(store, tracked.message.id)
    assert stats["status"] == "sent" and stats["opens"]["machine"] == 1
    assert bus.on(NOTIFY) == []


def test_events_carry_an_expiry_for_retention(clock: FixedClock) -> None:
    store, bus = MemoryStore(), MemoryBus()
    tracked = track_message(
        store, URLS, clock, records=store, sender="a@example.com", recipients=["b@example.org"]
    )
    record_hit(bus, hit_for(tracked.pixel_url, clock))
    event = process_hit(store, bus, classify, bus.on(HITS)[0], retention=timedelta(days=30))
    assert event is not None and event.expires_at == event.at + timedelta(days=30)


def test_malformed_and_unknown_hits_are_dropped_quietly(clock: FixedClock) -> None:
    store, bus = MemoryStore(), MemoryBus()
    assert process_hit(store, bus, classify, {"garbage": True}) is None
    other = track_message(
        MemoryStore(),
        URLS,
        clock,
        records=MemoryStore(),
        sender="a@example.com",
        recipients=["b@example.org"],
    )
    record_hit(bus, hit_for(other.pixel_url, clock))
    assert process_hit(store, bus, classify, bus.on(HITS)[0]) is None


def test_users_see_only_their_own_messages(clock: FixedClock) -> None:
    store = MemoryStore()
    tracked = track_message(
        store, URLS, clock, records=store, sender="a@example.com", recipients=["b@example.org"]
    )
    with pytest.raises(UnknownMessage):
        get_stats(store, tracked.message.id, owner="mallory@example.com")
    with pytest.raises(UnknownMessage):
        add_link(
            store,
            URLS,
            owner="mallory@example.com",
            message_id=tracked.message.id,
            url="https://e.com/",
        )
    url = add_link(
        store, URLS, owner="A@example.com", message_id=tracked.message.id, url="https://e.com/"
    )
    assert SIGNER.verify(url.rsplit("/", 1)[1]).link_index == 1

"""The idempotency log: one winner per delivery, and a crashed sender's lease is taken over."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbeacon.bus import DIGEST
from mailbeacon.clock import FixedClock
from mailbeacon.errors import RetryLater
from mailbeacon.settings import AlertRules, SettingsBook
from mailbeacon.store.memory import MemoryStore
from notifier.delivery import DeliveryLog
from notifier.digest import DigestScheduler

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_sent_delivery_is_never_claimed_again() -> None:
    log = DeliveryLog(MemoryStore(), FixedClock(T0))
    assert log.claim("e1/slack-webhook") is True
    log.settle("e1/slack-webhook", "sent")
    assert [log.claim("e1/slack-webhook") for _ in range(5)] == [False] * 5


def test_a_live_lease_makes_others_wait_and_an_expired_one_is_taken_over_once() -> None:
    store, clock = MemoryStore(), FixedClock(T0)
    log = DeliveryLog(store, clock)
    assert log.claim("e1/chat-app")
    with pytest.raises(RetryLater) as waiting:
        log.claim("e1/chat-app")
    assert 0 < waiting.value.seconds <= 60
    clock.advance(seconds=61)  # the first sender crashed between send and mark
    assert log.claim("e1/chat-app") is True
    assert store.get_record("notify-delivery", "e1/chat-app")["gen"] == 1  # type: ignore[index]
    with pytest.raises(RetryLater):
        log.claim("e1/chat-app")  # the taker-over now holds a live lease


def test_a_released_claim_is_retried_at_once() -> None:
    log = DeliveryLog(MemoryStore(), FixedClock(T0))
    assert log.claim("k")
    log.release("k")
    assert log.claim("k") is True


def test_problems_are_deduplicated_and_capped() -> None:
    store = MemoryStore()
    book = SettingsBook(store, store, AlertRules())
    for i in range(15):
        book.record_problem("ana@example.com", f"slack-webhook: error {i}", T0)
    book.record_problem("ana@example.com", "slack-webhook: error 14", T0)
    problems = store.get_settings("ana@example.com").problems
    assert len(problems) == 10 and problems[-1].endswith("slack-webhook: error 14")
    assert sum(p.endswith("error 14") for p in problems) == 1


def test_the_serve_scheduler_publishes_one_digest_a_day(tmp_path: Path) -> None:
    from mailbeacon.bus.local import LocalBus
    from mailbeacon.store.sqlite import Database

    bus = LocalBus(Database(tmp_path / "bus.db"))
    seen: list[dict] = []
    bus.subscribe(DIGEST, seen.append)
    clock = FixedClock(T0.replace(hour=6))
    scheduler = DigestScheduler(MemoryStore(), bus, clock, hour=8)
    assert scheduler.tick() is False  # before the digest hour
    clock.advance(hours=2)
    assert scheduler.tick() is True
    assert scheduler.tick() is False  # once per day
    clock.advance(days=1)
    assert scheduler.tick() is True
    bus.drain()
    assert seen == [{"date": "2026-03-02"}, {"date": "2026-03-03"}]

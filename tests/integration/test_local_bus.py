"""The outbox bus: durable on publish, delivered at least once, retried, never lost."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailbeacon.bus.local import LocalBus
from mailbeacon.errors import RetryLater
from mailbeacon.store.sqlite import Database


class Clock:
    """The Clock port, moved by hand in seconds."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "bus.db")


def test_published_messages_survive_a_restart(db: Database, tmp_path: Path) -> None:
    LocalBus(db).publish("hits", {"n": 1})
    got: list[dict[str, Any]] = []
    restarted = LocalBus(Database(tmp_path / "bus.db"))
    restarted.subscribe("hits", got.append)
    assert restarted.drain() == 1
    assert got == [{"n": 1}]
    assert restarted.pending() == 0


def test_failures_retry_with_backoff_then_dead_letter(db: Database) -> None:
    clock = Clock()
    bus = LocalBus(db, max_attempts=3, horizon=0, clock=clock)
    calls = []

    def flaky(payload: dict[str, Any]) -> None:
        calls.append(payload)
        raise ConnectionError("downstream down")

    bus.subscribe("notify", flaky)
    bus.publish("notify", {"id": "e1"})
    bus.drain()
    assert len(calls) == 1 and bus.pending("notify") == 1
    bus.drain()
    assert len(calls) == 1  # not yet: backing off
    for _ in range(2):
        clock.t += 3600
        bus.drain()
    assert len(calls) == 3
    assert bus.pending("notify") == 0
    [dead] = bus.dead_letters()
    assert dead["payload"] == {"id": "e1"} and dead["attempts"] == 3
    assert "downstream down" in dead["error"]


def test_failures_are_retried_for_the_whole_horizon_not_a_number_of_attempts(
    db: Database,
) -> None:
    """Today's receivers go down for an hour; eight tries in two minutes gave up on them."""
    clock = Clock()
    bus = LocalBus(db, max_attempts=8, horizon=3 * 3600, base=1, cap=600, clock=clock)
    calls = []

    start = clock.t

    def down_for_two_hours(payload: dict[str, Any]) -> None:
        calls.append(clock.t)
        if clock.t < start + 2 * 3600:
            raise ConnectionError("503 from the receiver")

    bus.subscribe("notify", down_for_two_hours)
    bus.publish("notify", {"id": "e1"})
    while bus.pending("notify") and clock.t < start + 4 * 3600:
        bus.drain()
        clock.t += 30
    assert bus.pending("notify") == 0 and bus.dead_letters() == []
    assert len(calls) > 8 and calls[-1] >= start + 2 * 3600  # delivered once it was back
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert max(gaps) <= 600 + 30  # the backoff is capped: never an hour of silence


def test_a_message_failing_past_the_horizon_is_set_aside(db: Database) -> None:
    clock = Clock()
    bus = LocalBus(db, max_attempts=3, horizon=600, base=1, cap=60, clock=clock)
    bus.subscribe("notify", lambda payload: (_ for _ in ()).throw(ConnectionError("down")))
    start = clock.t
    bus.publish("notify", {"id": "e2"})
    while bus.pending("notify") and clock.t < start + 3600:
        bus.drain()
        clock.t += 10
    [dead] = bus.dead_letters()
    assert start + 600 <= clock.t <= start + 600 + 60 + 20 and dead["attempts"] > 3


def test_retry_later_waits_the_asked_time_and_never_dead_letters(db: Database) -> None:
    clock = Clock()
    bus = LocalBus(db, max_attempts=1, horizon=0, clock=clock)
    answers = iter([RetryLater(120), RetryLater(120), None])
    seen = []

    def rate_limited(payload: dict[str, Any]) -> None:
        seen.append(clock.t)
        answer = next(answers)
        if answer:
            raise answer

    bus.subscribe("notify", rate_limited)
    bus.publish("notify", {})
    bus.drain()
    clock.t += 119
    bus.drain()
    assert len(seen) == 1
    clock.t += 2
    bus.drain()
    clock.t += 121
    bus.drain()
    assert len(seen) == 3 and bus.pending() == 0 and bus.dead_letters() == []


def test_worker_thread_delivers_promptly_on_publish(db: Database) -> None:
    bus = LocalBus(db, poll_seconds=30)  # a long poll: only the wake-up can make this quick
    delivered = threading.Event()
    bus.subscribe("hits", lambda payload: delivered.set())
    bus.start()
    try:
        bus.publish("hits", {"n": 1})
        assert delivered.wait(5)
    finally:
        bus.stop()


def test_leased_rows_are_not_taken_twice_unless_asked(db: Database) -> None:
    bus = LocalBus(db)
    bus.publish("digest", {"n": 1})  # an outbox topic (hits go to the spool)
    assert len(bus._claim(["digest"], include_leased=False)) == 1
    assert bus._claim(["digest"], include_leased=False) == []
    got: list[dict[str, Any]] = []
    bus.subscribe("digest", got.append)
    assert bus.drain(["digest"], include_leased=True) == 1
    assert got == [{"n": 1}]


def test_a_batch_refused_by_the_database_is_read_again_without_a_new_hit(
    tmp_path: Path,
) -> None:
    """Another process (the CLI, a second server) holding the write lock past the busy timeout
    makes the worker's batch fail and roll back: the worker reads it again on its next turn,
    not only when another hit arrives."""
    from mailbeacon.errors import StoreUnavailable
    from tests.support.processes import wait_until

    bus = LocalBus(Database(tmp_path / "bus.db"), poll_seconds=0.05)
    locked, got = threading.Event(), []
    locked.set()

    def store(payloads: list[dict[str, Any]]) -> None:
        if locked.is_set():
            raise StoreUnavailable("database is locked")
        got.extend(payloads)

    bus.subscribe("hits", got.append, batch=store)
    bus.publish("hits", {"n": 1})
    bus.publish("hits", {"n": 2})  # two: the batch path
    bus.start()
    try:
        wait_until(lambda: bus.last_error is not None, timeout=10)  # refused, rolled back
        locked.clear()  # the other writer is done; no hit arrives after this
        assert wait_until(lambda: len(got) == 2 and got, timeout=5) == [{"n": 1}, {"n": 2}]
    finally:
        bus.stop()

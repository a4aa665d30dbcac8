"""One contract for every Bus and the Worker that consumes it: the memory bus, the local bus
(SQLite outbox + worker), and Pub/Sub on its emulator (marked ``emulators``) with either
consumer: the push into the Cloud Functions, or cluster mode's pull worker.

Every bus: a published payload reaches the subscribed handler intact (a JSON round trip, not
the publisher's object), at least once, and only on its topic; a handled message is not handed
out again; a handler that raises gets the message again; a publish that cannot be made durable
raises BusUnavailable and leaves nothing to deliver. Where the adapter supports it, RetryLater
waits the asked time and is not counted as a failure, and a started worker delivers by itself.

Pub/Sub's consumer in production is a push subscription into an entry point of
functions/main.py, which calls ``mailbeacon.bus.pubsub.deliver`` with the handler the app
registered (``App.handlers``); the function failing makes Pub/Sub redeliver. Here the
emulator's pull subscription stands in for the push (same message, same envelope), the same
``deliver`` runs, and a raise is answered with a nack, as a failed push is: redelivery is the
emulator's own. Running the entry point itself would run the app's handlers, not the
contract's.

Cluster mode's consumer (``mailbeacon.bus.pubsub_pull``) runs as itself: it creates its own
subscriptions, ``drain`` is its synchronous pull and ``start`` its pull loops.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.standins.pubsub_admin import PubsubAdmin, push_envelope
from mailbeacon.bus import HITS, NOTIFY, Handler
from mailbeacon.bus.local import LocalBus
from mailbeacon.bus.memory import MemoryBus
from mailbeacon.errors import BusUnavailable, RetryLater
from mailbeacon.store.sqlite import Database
from tests.support.processes import wait_until

# Everything JSON carries, and what a careless encoder gets wrong (non-ASCII, big ints, nesting).
PAYLOAD: dict[str, Any] = {
    "id": "h-1",
    "kind": "open",
    "message_id": "M1",
    "ua": "Mozilla/5.0 (Ünïcode; 漢字) 🙂",
    "n": 2**53 + 1,
    "ratio": 0.25,
    "flags": [True, False, None],
    "nested": {"headers": {"Via": "1.1 google"}, "empty": {}},
}


class FakeTime:
    """The Clock port, moved by the test in seconds."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


class Rig:
    """A bus, its consumer, and the means to drive and break it."""

    name: str
    bus: Any
    worker: Any = None  # the consuming side when it is not the bus itself
    retry_later_waits = True  # RetryLater delays and is not counted as a failure
    threaded_worker = True  # start()/stop() run a worker that delivers by itself

    def subscribe(self, topic: str, handler: Handler) -> None:
        (self.worker or self.bus).subscribe(topic, handler)

    def drain(self) -> int:
        return (self.worker or self.bus).drain()

    def settle(self, until: Callable[[], bool]) -> None:
        """Drive the consumer until ``until()`` holds (synchronous buses need no waiting)."""
        for _ in range(5):
            self.drain()
            if until():
                return
        raise AssertionError(f"{self.name}: condition not met after draining")

    def advance(self, seconds: float) -> None:
        raise NotImplementedError

    def break_publishing(self) -> None:
        raise NotImplementedError

    def repair(self) -> None:
        """Undo break_publishing, where that is possible."""

    def close(self) -> None:
        pass


class MemoryRig(Rig):
    name = "memory"

    def __init__(self, max_attempts: int) -> None:
        self.time = FakeTime()
        self.bus = MemoryBus(max_attempts=max_attempts, horizon=0, clock=self.time)

    def advance(self, seconds: float) -> None:
        self.time.t += seconds

    def break_publishing(self) -> None:
        self.bus.broken = True

    def repair(self) -> None:
        self.bus.broken = False


class LocalRig(Rig):
    name = "local"

    def __init__(self, path: Path, max_attempts: int) -> None:
        self.time = FakeTime()
        self.path = path
        self.bus = LocalBus(
            Database(path, busy_timeout_ms=200),
            max_attempts=max_attempts,
            horizon=0,
            clock=self.time,
        )
        self.locker: sqlite3.Connection | None = None

    def advance(self, seconds: float) -> None:
        self.time.t += seconds

    def break_publishing(self) -> None:
        """Another process holds the database's write lock past the busy timeout (outbox
        topics), and the hit spool's directory cannot be created (hits)."""
        self.locker = sqlite3.connect(self.path, isolation_level=None)
        self.locker.execute("BEGIN EXCLUSIVE")
        self.bus.spool_dir.write_text("not a directory")

    def repair(self) -> None:
        if self.bus.spool_dir.is_file():
            self.bus.spool_dir.unlink()
        if self.locker is not None:
            self.locker.execute("ROLLBACK")
            self.locker.close()
            self.locker = None

    def close(self) -> None:
        self.bus.stop()
        self.repair()
        self.bus.db.close()


class PubsubRig(Rig):
    """PubsubBus publishing to the emulator; pulls stand in for the push into functions/main."""

    name = "pubsub"
    retry_later_waits = False  # a raise is a failed push: Pub/Sub's backoff, counted
    threaded_worker = False  # push-driven; no worker thread in this adapter

    def __init__(self, host: str, project: str) -> None:
        from mailbeacon.bus.pubsub import PubsubBus

        self.prefix = f"c{secrets.token_hex(3)}-"
        self.admin = PubsubAdmin(host, project)
        self.bus = PubsubBus(project, topic_prefix=self.prefix, emulator_host=host, timeout=5)
        self.subscriptions: dict[str, str] = {}
        self.handlers: dict[str, Handler] = {}  # App.handlers, which the entry points read
        for topic in (HITS, NOTIFY):
            topic_id = self.bus.topics[topic]
            self.admin.topic(topic_id)
            self.admin.subscription(f"{topic_id}-sub", topic_id)
            self.subscriptions[topic] = f"{topic_id}-sub"

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.handlers[topic] = handler

    def drain(self) -> int:
        from mailbeacon.bus.pubsub import deliver

        handled = 0
        for topic in list(self.handlers):
            sub = self.subscriptions[topic]
            for received in self.admin.pull(sub, immediately=True):
                handled += 1
                event = {"data": push_envelope(received, f"projects/p/subscriptions/{sub}")}
                try:  # what functions/main.py's entry point does with a push
                    deliver(self.handlers.get(topic), topic, event)
                except Exception:
                    self.admin.retry_in(sub, received["ackId"], 0)  # a failed push: redelivered
                else:
                    self.admin.ack(sub, received["ackId"])  # 2xx: acknowledged
        return handled

    def settle(self, until: Callable[[], bool]) -> None:
        wait_until(lambda: self.drain() >= 0 and until(), timeout=30, interval=0.1)

    def advance(self, seconds: float) -> None:
        pass  # the emulator redelivers a nacked message at once

    def break_publishing(self) -> None:
        """The topic is deleted under the publisher."""
        url = f"http://{self.admin.host}/v1/projects/{self.admin.project}/topics/"
        requests.delete(url + self.bus.topics[HITS], timeout=10).raise_for_status()


class PubsubPullRig(Rig):
    """PubsubBus publishing to the emulator; cluster mode's worker consuming."""

    name = "pubsub-pull"
    retry_later_waits = False  # the lease is the delay, and Pub/Sub counts the delivery

    def __init__(self, host: str, project: str) -> None:
        from mailbeacon.bus import TOPICS
        from mailbeacon.bus.pubsub import PubsubBus
        from mailbeacon.bus.pubsub_pull import PubsubPullWorker

        prefix = f"w{secrets.token_hex(3)}-"
        self.admin = PubsubAdmin(host, project)
        self.bus = PubsubBus(project, topic_prefix=prefix, emulator_host=host, timeout=5)
        # A short backoff keeps the test quick; production's is the deploy plan's (10-600 s).
        self.worker = PubsubPullWorker(
            project, topic_prefix=prefix, emulator_host=host, min_backoff=0, max_backoff=1
        )
        self.worker.ensure(TOPICS)  # subscriptions exist before anything is published

    def settle(self, until: Callable[[], bool]) -> None:
        wait_until(lambda: self.drain() >= 0 and until(), timeout=30, interval=0.1)

    def advance(self, seconds: float) -> None:
        pass  # real time: a nack is redelivered after the subscription's (short) backoff

    def break_publishing(self) -> None:
        """The topic is deleted under the publisher."""
        url = f"http://{self.admin.host}/v1/projects/{self.admin.project}/topics/"
        requests.delete(url + self.bus.topics[HITS], timeout=10).raise_for_status()

    def close(self) -> None:
        self.worker.stop()


ALL = [
    "memory",
    "local",
    pytest.param("pubsub", marks=pytest.mark.emulators),
    pytest.param("pubsub-pull", marks=pytest.mark.emulators),
]
# Pub/Sub hands a raising function's message back with the subscription's own backoff and counts
# the attempt towards its dead-letter policy; its push consumer is not a worker thread.
RETRY_LATER_WAITS = ["memory", "local"]
THREADED = ["memory", "local", pytest.param("pubsub-pull", marks=pytest.mark.emulators)]


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    max_attempts = 8
    made: Rig
    if request.param == "memory":
        made = MemoryRig(max_attempts)
    elif request.param == "local":
        made = LocalRig(tmp_path / "bus.db", max_attempts)
    elif request.param == "pubsub":
        emulators = request.getfixturevalue("emulators")
        made = PubsubRig(emulators.pubsub_host, emulators.project)
    else:
        emulators = request.getfixturevalue("emulators")
        made = PubsubPullRig(emulators.pubsub_host, emulators.project)
    yield made
    made.close()


class Recorder:
    """A handler that records what it got, and fails the first ``failures`` calls."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.got: list[dict[str, Any]] = []
        self.failures = list(failures or [])
        self.lock = threading.Lock()
        self.arrived = threading.Event()

    def __call__(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.got.append(payload)
        self.arrived.set()
        if self.failures:
            raise self.failures.pop(0)


@pytest.mark.parametrize("rig", ALL, indirect=True)
def test_a_published_payload_reaches_its_handler_intact(rig: Rig) -> None:
    hits, notify = Recorder(), Recorder()
    rig.subscribe(HITS, hits)
    rig.subscribe(NOTIFY, notify)
    sent = {**PAYLOAD, "nested": {**PAYLOAD["nested"]}}
    rig.bus.publish(HITS, sent)
    sent["nested"]["headers"] = "changed after publish"  # the bus must have taken a copy
    rig.settle(lambda: len(hits.got) >= 1)
    assert hits.got[0] == PAYLOAD
    assert hits.got[0] is not sent
    assert notify.got == []  # only its own topic's handler


@pytest.mark.parametrize("rig", ALL, indirect=True)
def test_every_message_arrives_and_a_handled_one_is_not_handed_out_again(rig: Rig) -> None:
    handler = Recorder()
    rig.subscribe(HITS, handler)
    for i in range(5):
        rig.bus.publish(HITS, {"id": f"h{i}"})
    rig.settle(lambda: {p["id"] for p in handler.got} == {f"h{i}" for i in range(5)})
    delivered = len(handler.got)
    rig.advance(3600)
    for _ in range(3):
        rig.drain()
    assert len(handler.got) == delivered


@pytest.mark.parametrize("rig", ALL, indirect=True)
def test_a_handler_that_raises_gets_the_message_again(rig: Rig) -> None:
    handler = Recorder([ConnectionError("downstream down")])
    rig.subscribe(NOTIFY, handler)
    rig.bus.publish(NOTIFY, {"id": "n1", "to": "ana@example.com"})
    rig.settle(lambda: len(handler.got) >= 1)
    rig.advance(3600)  # past any backoff
    rig.settle(lambda: len(handler.got) >= 2)
    assert handler.got[0] == handler.got[1] == {"id": "n1", "to": "ana@example.com"}
    settled = len(handler.got)
    rig.advance(3600)
    rig.drain()
    assert len(handler.got) == settled  # the successful second delivery was acknowledged


@pytest.mark.parametrize("rig", ALL, indirect=True)
def test_a_handler_asking_to_retry_later_gets_the_message_again(rig: Rig) -> None:
    handler = Recorder([RetryLater(1, "rate limited")])
    rig.subscribe(NOTIFY, handler)
    rig.bus.publish(NOTIFY, {"id": "n2"})
    rig.settle(lambda: len(handler.got) >= 1)
    rig.advance(2)
    rig.settle(lambda: len(handler.got) >= 2)
    assert handler.got[1] == {"id": "n2"}


@pytest.mark.parametrize("rig", RETRY_LATER_WAITS, indirect=True)
def test_retry_later_waits_the_asked_time_and_is_not_a_failure(rig: Rig) -> None:
    rig.bus.max_attempts = 1  # one counted failure would set the message aside
    handler = Recorder([RetryLater(120), RetryLater(120)])
    rig.subscribe(NOTIFY, handler)
    rig.bus.publish(NOTIFY, {"id": "n3"})
    rig.drain()
    assert len(handler.got) == 1
    rig.advance(119)
    rig.drain()
    assert len(handler.got) == 1  # not before the asked time
    rig.advance(2)
    rig.drain()
    rig.advance(121)
    rig.drain()
    assert handler.got == [{"id": "n3"}] * 3
    assert rig.bus.dead_letters() == [] and rig.bus.pending() == 0
    # ...whereas a real failure is counted: with one attempt allowed it is set aside.
    failing = Recorder([ConnectionError("down")])
    rig.subscribe(HITS, failing)
    rig.bus.publish(HITS, {"id": "h9"})
    rig.drain()
    rig.advance(3600)
    rig.drain()
    assert len(failing.got) == 1
    assert [d["payload"] for d in rig.bus.dead_letters()] == [{"id": "h9"}]


@pytest.mark.parametrize("rig", THREADED, indirect=True)
def test_a_started_worker_delivers_by_itself_until_stopped(rig: Rig) -> None:
    handler = Recorder()
    rig.subscribe(HITS, handler)
    worker = rig.worker or rig.bus
    worker.start()
    try:
        rig.bus.publish(HITS, {"id": "h1"})
        assert handler.arrived.wait(10), "the worker did not deliver"
    finally:
        worker.stop()
    assert handler.got == [{"id": "h1"}]
    assert rig.drain() == 0  # acknowledged before stop returned: not handed out again


@pytest.mark.parametrize("rig", ALL, indirect=True)
def test_a_publish_that_cannot_be_made_durable_raises_bus_unavailable(rig: Rig) -> None:
    handler = Recorder()
    rig.subscribe(HITS, handler)
    rig.break_publishing()
    with pytest.raises(BusUnavailable):
        rig.bus.publish(HITS, {"id": "lost"})
    rig.repair()
    rig.advance(3600)
    rig.drain()
    assert handler.got == []  # nothing half-published

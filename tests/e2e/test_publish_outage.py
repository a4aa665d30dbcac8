"""No hit lost on a failed publish, from outside: a Pub/Sub emulator of this module's own is
stopped (SIGSTOP: it neither answers nor closes, as a hung service) in the middle of a load and
resumed; every hit answered meanwhile is recorded exactly once, in cluster mode (`mailbeacon
serve` on Firestore and Pub/Sub, its worker sweeping) and through the Cloud Functions entry
points (the pixel function, and process_hit sweeping when the scheduler's request arrives)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import secrets
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from functions.deploy.resources import FUNCTIONS
from functions.standins.emulators import Emulator, pubsub_command
from functions.standins.pubsub_admin import PubsubAdmin, push_envelope
from mailbeacon.bus.fallback import SWEEP_PAYLOAD
from tests.support.cloud import FunctionProcess
from tests.support.emulators import Emulators
from tests.support.processes import ServerProcess, cli_json, wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.slow]

TOTAL, CONCURRENCY, STOP_AFTER, RESUME_AFTER = 40, 6, 10, 24
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
FAST = {  # a publish gives up quickly here; the defaults are 5 s and 3 attempts
    "MAILBEACON_PUBLISH_TIMEOUT": "0.3",
    "MAILBEACON_PUBLISH_ATTEMPTS": "2",
    "MAILBEACON_FALLBACK_SWEEP_SECONDS": "1",
}


@pytest.fixture(scope="module")
def pubsub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A Pub/Sub emulator this module may stop: the shared one serves the other tests."""
    log = tmp_path_factory.mktemp("outage") / "pubsub.log"
    emulator = Emulator("Pub/Sub", pubsub_command(), log).start()
    yield emulator
    if emulator.proc is not None:
        os.kill(emulator.proc.pid, signal.SIGCONT)
    emulator.stop()


def _load(url: str, answered: set[int], outage: Callable[[int], None]) -> None:
    """TOTAL fetches as Gmail's image proxy, each naming its number in its user agent;
    ``outage(count)`` is told each time one more is answered."""
    split = urlsplit(url)
    numbers, lock = itertools.count(), threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(split.hostname, split.port, timeout=60)
        while (n := next(numbers)) < TOTAL:
            conn.request("GET", split.path, headers={"User-Agent": f"{GMAIL_PROXY} load/{n}"})
            response = conn.getresponse()
            ok = response.status == 200 and len(response.read()) == 43
            with lock:
                if ok:
                    answered.add(n)
                outage(len(answered))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)


def _outage(pubsub: Emulator) -> Callable[[int], None]:
    state = {"stopped": False, "resumed": False}

    def at(count: int) -> None:
        assert pubsub.proc is not None
        if count >= STOP_AFTER and not state["stopped"]:
            os.kill(pubsub.proc.pid, signal.SIGSTOP)
            state["stopped"] = True
        elif count >= RESUME_AFTER and not state["resumed"]:
            os.kill(pubsub.proc.pid, signal.SIGCONT)
            state["resumed"] = True

    return at


def _stored(emulators: Emulators, message_id: str) -> Counter[int]:
    """How often each fetch was stored as an event, read straight from Firestore."""
    from google.cloud import firestore

    query = (
        firestore.Client(project=emulators.project)
        .collection("events")
        .where(filter=firestore.FieldFilter("message_id", "==", message_id))
    )
    agents = (snap.to_dict().get("user_agent", "") for snap in query.stream())
    return Counter(int(ua.rsplit("load/", 1)[1]) for ua in agents if "load/" in ua)


def _environment(emulators: Emulators, pubsub: Emulator) -> dict[str, str]:
    return {
        **emulators.env,
        "PUBSUB_EMULATOR_HOST": pubsub.host,
        "MAILBEACON_STORE": "firestore",
        "MAILBEACON_BUS": "pubsub",
        "MAILBEACON_TOPIC_PREFIX": f"o{secrets.token_hex(3)}-",
        "MAILBEACON_SECRET": f"1:{secrets.token_hex(32)}",
        **FAST,
    }


PROCESS_HIT = next(f for f in FUNCTIONS if f.name == "process_hit")
"""As deployed: Cloud Run sends it up to ``concurrency`` requests at once (FunctionProcess
gives it as many threads, as the plan does). Each request waits for its message's coalesced
write (about a second): six at a time made this test half a minute long."""


def _pusher(admin: PubsubAdmin, sub: str, consumer: FunctionProcess) -> Callable[[], None]:
    """Pub/Sub's push delivery, played: what the subscription holds POSTed to process_hit
    up to its concurrency at a time, acknowledged on a 2xx and redelivered otherwise. (The
    emulator's own push loop sends one message at a time, a few a second: minutes for this
    load.) A pull takes no more than is delivered before its acknowledgement deadline."""
    path = f"projects/{admin.project}/subscriptions/{sub}"

    def deliver(received: dict[str, object]) -> None:
        if consumer.post_json(push_envelope(received, path)).ok:
            admin.ack(sub, str(received["ackId"]))
        else:
            admin.retry_in(sub, str(received["ackId"]), 0)

    def push() -> None:
        at_once = PROCESS_HIT.concurrency
        with ThreadPoolExecutor(at_once) as pool:
            list(pool.map(deliver, admin.pull(sub, at_once, immediately=True)))

    return push


def _every_answered_hit_once(
    emulators: Emulators,
    message_id: str,
    answered: set[int],
    deliver: Callable[[], None] = lambda: None,
) -> None:
    """Every answered fetch stored as one event (``deliver`` is called before each look)."""
    assert STOP_AFTER <= RESUME_AFTER < len(answered), "the outage must land during the load"
    assert len(answered) == TOTAL, f"{TOTAL - len(answered)} fetches were not answered"

    def all_stored() -> Counter[int] | None:
        deliver()
        stored = _stored(emulators, message_id)
        return stored if stored.keys() >= answered else None

    stored = wait_until(all_stored, timeout=120, interval=0.2)
    assert max(stored.values()) == 1, "a hit recorded twice"


def test_cluster_mode_loses_no_hit_while_pubsub_hangs(
    emulators: Emulators, pubsub: Emulator, tmp_path: Path
) -> None:
    env = _environment(emulators, pubsub)
    server = ServerProcess(data_dir=tmp_path / "serve", env=env).start()
    try:
        tracked = cli_json(
            "track", "--sender", "ann@example.com", "--to", "bob@example.org",
            data_dir=tmp_path / "cli", env=env,
        )  # fmt: skip
        answered: set[int] = set()
        pixel = server.url + urlsplit(tracked["pixel_url"]).path
        _load(pixel, answered, _outage(pubsub))
        _every_answered_hit_once(emulators, tracked["message_id"], answered)
        assert "kept in the store" in server.log.read_text()  # the fallback was used
    finally:
        server.stop()


def test_the_pixel_function_loses_no_hit_while_pubsub_hangs(
    emulators: Emulators, pubsub: Emulator, tmp_path: Path
) -> None:
    env = _environment(emulators, pubsub)
    prefix = env["MAILBEACON_TOPIC_PREFIX"]
    admin = PubsubAdmin(pubsub.host, emulators.project)
    for topic in ("hits", "notify", "digest"):
        admin.topic(prefix + topic)
    consumer = FunctionProcess("process_hit", env, tmp_path).start()
    pixel = FunctionProcess("pixel", env, tmp_path)
    env["MAILBEACON_PUBLIC_URL"] = pixel.url
    pixel.start()
    try:
        admin.subscription(prefix + "hits-push", prefix + "hits")
        tracked = cli_json(
            "track", "--sender", "ann@example.com", "--to", "bob@example.org",
            data_dir=tmp_path / "cli", env=env,
        )  # fmt: skip
        answered: set[int] = set()
        _load(tracked["pixel_url"], answered, _outage(pubsub))
        assert "kept in the store" in pixel.log
        admin.publish(prefix + "hits", json.dumps(SWEEP_PAYLOAD).encode())  # Cloud Scheduler
        deliver = _pusher(admin, prefix + "hits-push", consumer)
        _every_answered_hit_once(emulators, tracked["message_id"], answered, deliver)
    finally:
        pixel.stop()
        consumer.stop()

"""Cluster mode: two `mailbeacon serve` processes on Firestore and Pub/Sub share the work, and a
server killed mid-load loses nothing and records nothing twice.

Each pixel request comes from its own loopback address (127.1.x.y), so the event it produced
can be found by the address's keyed hash: the test knows, per request, whether it was
answered and whether it was recorded, and how often. A request to the killed server that got
no answer may or may not have been published before the kill; it must be recorded at most
once, and is reported apart.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import secrets
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mailbeacon.hits import address_hash
from mailbeacon.tokens import load_keyring
from tests.support.emulators import Emulators
from tests.support.processes import ServerProcess, run_cli, wait_until

pytestmark = pytest.mark.emulators

GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
TOTAL = 2000
MESSAGES = 20  # the hits spread over several senders' messages, as a domain's mail does
CONCURRENCY = 16
KILL_AFTER = 500  # answers before the second server is killed
RESUME_AT = 1000  # requests from here on wait for it to be back


def source(i: int) -> str:
    """Request ``i``'s own loopback address (all of 127.0.0.0/8 is local on Linux)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


def fetch(port: int, path: str, i: int) -> int | None:
    """One pixel request, as Gmail's image proxy makes it; None when no answer came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source(i), 0))
    try:
        conn.request("GET", path, headers={"User-Agent": GMAIL_PROXY})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def recorded(emulators: Emulators, message_ids: list[str]) -> list[tuple[str, str]]:
    """(message id, ip_hash) of every event of the messages, read from Firestore itself."""
    from google.cloud import firestore
    from google.cloud.firestore import FieldFilter

    client = firestore.Client(project=emulators.project)
    query = (
        client.collection("events")
        .where(filter=FieldFilter("message_id", "in", message_ids))
        .select(["message_id", "ip_hash"])
    )
    return [(snap.get("message_id"), snap.get("ip_hash")) for snap in query.stream()]


def track(env: dict[str, str], data_dir: Path, count: int) -> list[dict[str, Any]]:
    """``count`` tracked messages, registered as `mailbeacon track` does (one process, not
    ``count``: the machine is small)."""
    from functions.bootstrap import bootstrap
    from functions.config import load_config
    from mailbeacon.services import track_message

    app = bootstrap(load_config({**env, "MAILBEACON_DATA_DIR": str(data_dir)}))
    sent = datetime.now(UTC) - timedelta(minutes=10)
    try:
        return [
            track_message(
                app.store,
                app.urls,
                app.clock,
                sender=f"ann{n}@example.com",  # owners' day counters are hot documents too
                recipients=[f"bob{n}@example.org"],
                subject=f"Cluster {n}",
                sent_at=sent,
                records=app.records,
            ).to_public()
            for n in range(count)
        ]
    finally:
        app.close()


def test_two_servers_share_the_hits_and_a_killed_one_loses_none(
    emulators: Emulators, tmp_path: Path
) -> None:
    secret = f"1:{secrets.token_hex(32)}"
    env = {
        **emulators.env,
        "MAILBEACON_STORE": "firestore",
        "MAILBEACON_BUS": "pubsub",
        "MAILBEACON_TOPIC_PREFIX": f"k{secrets.token_hex(3)}-",
        "MAILBEACON_SECRET": secret,
    }
    first = ServerProcess(tmp_path / "a", env=env)
    second = ServerProcess(tmp_path / "b", env=env)
    cli_dir = tmp_path / "cli"
    try:
        first.start()
        second.start()
        messages = track(env, cli_dir, MESSAGES)
        ids = [m["message_id"] for m in messages]
        paths = [urlsplit(m["pixel_url"]).path for m in messages]
        ports = (first.port, second.port)

        def target(i: int) -> int:
            """Request ``i``'s message: every message gets hits on both servers."""
            return (i // 2) % MESSAGES

        answers: list[int | None] = [None] * TOTAL
        done = Counter[str]()
        lock = threading.Lock()
        back = threading.Event()

        def hit(i: int) -> None:
            if i >= RESUME_AT:
                back.wait(60)
            answers[i] = fetch(ports[i % 2], paths[target(i)], i)
            with lock:
                done["all"] += 1

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [pool.submit(hit, i) for i in range(TOTAL)]
            wait_until(lambda: done["all"] >= KILL_AFTER, timeout=60)
            second.kill()  # SIGKILL, with requests in flight and messages leased
            second.start()
            back.set()
            for future in futures:
                future.result()

        key = load_keyring(cli_dir, secret).derive("ip-address-hash")
        hashes = {address_hash(key, ipaddress.ip_address(source(i))): i for i in range(TOTAL)}
        answered = {i for i, status in enumerate(answers) if status == 200}
        assert {s for s in answers if s is not None} == {200}, Counter(answers)
        assert all(answers[i] == 200 for i in range(0, TOTAL, 2)), "the first server failed"
        assert all(answers[i] == 200 for i in range(RESUME_AT + 1, TOTAL, 2)), "not back"
        unanswered = set(range(TOTAL)) - answered

        missing: list[set[int]] = []

        def every_answer_recorded() -> list[tuple[str, str]] | None:
            found = recorded(emulators, ids)
            missing[:] = [answered - {hashes.get(h) for _, h in found}]
            return found if not missing[0] else None

        try:
            found = wait_until(every_answer_recorded, timeout=100, interval=1)
        except AssertionError:
            lost = sorted(missing[0])
            raise AssertionError(f"{len(lost)} answered hits not recorded: {lost[:20]}") from None
        counts = Counter(hashes.get(h) for _, h in found)
        assert None not in counts, "an event no request made"
        assert [i for i, n in counts.items() if n > 1] == [], "recorded twice"
        assert all(ids[target(hashes[h])] == m for m, h in found), "recorded on another message"
        in_doubt = set(counts) - answered
        assert in_doubt <= unanswered
        assert len(found) == len(answered) + len(in_doubt)

        per_message = Counter(m for m, _ in found)
        for message_id in ids[:2]:  # `mailbeacon stats`, in the same environment, agrees
            result = run_cli("stats", "--json", "--", message_id, data_dir=cli_dir, env=env)
            assert result.returncode == 0, result.stderr
            stats = json.loads(result.stdout)
            opens = stats["opens"]
            assert opens["human"] + opens["machine"] == per_message[message_id], opens
            assert len(stats["events"]) == per_message[message_id]
        print(
            f"{len(answered)} answered, {len(unanswered)} unanswered while the server was down,"
            f" {len(in_doubt)} of those recorded all the same"
        )
    finally:
        first.stop()
        second.stop()

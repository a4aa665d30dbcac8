"""`mailbeacon deadletters list|replay`: on the local outbox, and on Pub/Sub (the emulator), where
each ``-dead`` topic's own ``-kept`` subscription (made by cluster mode's start, and by the
deploy plan) keeps what lands there until it is replayed to its topic."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from functions.standins.pubsub_admin import PubsubAdmin
from mailbeacon.bus import TOPICS
from mailbeacon.bus.local import LocalBus
from mailbeacon.bus.pubsub_pull import PubsubPullWorker
from mailbeacon.store.sqlite import Database
from tests.support.emulators import Emulators
from tests.support.processes import cli_json, run_cli


def test_local_dead_letters_are_listed_then_replayed_once_fixed(tmp_path: Path) -> None:
    database = Database(tmp_path / "mailbeacon.db")
    bus = LocalBus(database, max_attempts=1, horizon=0)  # given up at the first failure

    def down(payload: dict[str, Any]) -> None:
        raise ConnectionError("Slack unreachable")

    bus.subscribe("notify", down)
    bus.publish("notify", {"event_id": "e1", "message_id": "m1"})
    bus.drain()
    assert len(bus.dead_letters()) == 1
    listed = cli_json("deadletters", "list", data_dir=tmp_path)["dead_letters"]
    assert [(d["topic"], d["payload"]["event_id"]) for d in listed] == [("notify", "e1")]
    assert "Slack unreachable" in listed[0]["error"]
    assert "1 dead letter" in run_cli("deadletters", "list", data_dir=tmp_path).stdout
    assert cli_json("deadletters", "replay", "--topic", "hits", data_dir=tmp_path) == {
        "replayed": 0
    }
    assert cli_json("deadletters", "replay", data_dir=tmp_path) == {"replayed": 1}
    fixed = LocalBus(database)
    got: list[dict[str, Any]] = []
    fixed.subscribe("notify", got.append)
    fixed.drain()
    assert got == [{"event_id": "e1", "message_id": "m1"}] and fixed.dead_letters() == []
    database.close()


@pytest.mark.emulators
def test_pubsub_dead_letters_are_kept_listed_and_replayed(
    emulators: Emulators, tmp_path: Path
) -> None:
    prefix = f"d{secrets.token_hex(3)}-"
    # Cluster mode's start makes each topic, its -dead topic and the -dead-kept subscription.
    PubsubPullWorker(
        emulators.project, topic_prefix=prefix, emulator_host=emulators.pubsub_host
    ).ensure(TOPICS)
    admin = PubsubAdmin(emulators.pubsub_host, emulators.project)
    admin.subscription(prefix + "hits-watch", prefix + "hits")
    hit = {"id": "h1", "kind": "open", "message_id": "m1"}
    # What Pub/Sub publishes to the dead-letter topic after the last failed delivery.
    admin.publish(
        prefix + "hits-dead",
        json.dumps(hit).encode(),
        {"kind": "open", "CloudPubSubDeadLetterSourceSubscription": prefix + "hits-pull"},
    )
    env = {
        **emulators.env,
        "MAILBEACON_BUS": "pubsub",
        "MAILBEACON_STORE": "firestore",
        "MAILBEACON_TOPIC_PREFIX": prefix,
    }
    for _ in range(2):  # listing hands the messages back: a second listing sees them again
        listed = cli_json("deadletters", "list", data_dir=tmp_path, env=env)["dead_letters"]
        assert [(d["topic"], d["payload"]) for d in listed] == [("hits", hit)]
    assert cli_json("deadletters", "replay", data_dir=tmp_path, env=env) == {"replayed": 1}
    [replayed] = admin.pull(prefix + "hits-watch", 10)
    message = replayed["message"]
    assert json.loads(base64.b64decode(message["data"])) == hit
    assert message["attributes"] == {"kind": "open"}  # Pub/Sub's own dead-letter marks dropped
    assert cli_json("deadletters", "list", data_dir=tmp_path, env=env) == {"dead_letters": []}

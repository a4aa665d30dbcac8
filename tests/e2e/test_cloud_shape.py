"""End to end in the cloud shape: functions-framework serves our entry points, the pixel
publishes to the Pub/Sub emulator, a push subscription delivers to `process_hit`, the event lands
in the Firestore emulator, and `mailbeacon stats` (pointed at Firestore) shows it."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.standins.pubsub_admin import PubsubAdmin, push_envelope
from mailbeacon.bus.fallback import SWEEP_PAYLOAD
from mailbeacon.bus.pubsub import PubsubBus
from mailbeacon.model import Hit
from tests.support.cloud import FunctionProcess
from tests.support.emulators import Emulators
from tests.support.processes import cli_json, run_cli, wait_until

pytestmark = pytest.mark.emulators

GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15"


@dataclass
class Cloud:
    env: dict[str, str]
    data_dir: Path
    admin: PubsubAdmin
    consumer: FunctionProcess
    pixel: FunctionProcess
    click: FunctionProcess
    manual_prefix: str  # topics with a pull subscription only: the test plays Pub/Sub's push

    def cli_json(self, *args: str) -> Any:
        return cli_json(*args, data_dir=self.data_dir, env=self.env)

    def pulled(self) -> list[dict[str, Any]]:
        """What the manual pull subscription holds now."""
        return self.admin.pull(self.manual_prefix + "hits-pull", immediately=True)

    def stats(self, message_id: str) -> dict[str, Any]:
        # "--": a message id may start with "-" (URL-safe base64)
        result = run_cli("stats", "--json", "--", message_id, data_dir=self.data_dir, env=self.env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def track(self) -> dict[str, Any]:
        sent = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        return self.cli_json(
            "track",
            "--sent-at",
            sent,
            "--sender",
            "ann@example.com",
            "--to",
            "bob@example.org",
            "--subject",
            "Proposal",
            "--link",
            "https://example.com/deck",
        )


@pytest.fixture(scope="module")
def cloud(emulators: Emulators, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    run = secrets.token_hex(3)
    prefix, manual = f"t{run}-", f"m{run}-"
    admin = PubsubAdmin(emulators.pubsub_host, emulators.project)
    for topic in ("hits", "notify", "digest"):
        admin.topic(prefix + topic)
    admin.topic(manual + "hits")
    admin.subscription(manual + "hits-pull", manual + "hits")
    logs = tmp_path_factory.mktemp("functions")
    env = {
        **emulators.env,
        "MAILBEACON_STORE": "firestore",
        "MAILBEACON_BUS": "pubsub",
        "MAILBEACON_TOPIC_PREFIX": prefix,
        "MAILBEACON_SECRET": f"1:{secrets.token_hex(32)}",
        "MAILBEACON_DATA_DIR": str(logs / "data"),
    }
    consumer = FunctionProcess("process_hit", env, logs)
    pixel = FunctionProcess("pixel", env, logs)
    click = FunctionProcess("click", env, logs)
    env.update({"MAILBEACON_PUBLIC_URL": pixel.url + "/pixel", "MAILBEACON_CLICK_URL": click.url})
    started: list[FunctionProcess] = []
    try:
        for function in (consumer, pixel, click):
            started.append(function.start())
        admin.subscription(prefix + "hits-push", prefix + "hits", push_endpoint=consumer.url)
        yield Cloud(env, logs / "data", admin, consumer, pixel, click, manual)
    finally:
        for function in started:
            function.stop()


def test_a_pixel_and_a_click_reach_firestore_through_pubsub_and_show_in_stats(
    cloud: Cloud,
) -> None:
    tracked = cloud.track()
    assert tracked["pixel_url"].startswith(cloud.pixel.url + "/pixel/p/")
    gif = requests.get(tracked["pixel_url"], headers={"User-Agent": GMAIL_PROXY}, timeout=30)
    assert gif.status_code == 200
    assert gif.headers["Content-Type"] == "image/gif" and len(gif.content) == 43
    assert "no-store" in gif.headers["Cache-Control"]
    # A person reads, then clicks: the open is recorded before the click arrives.
    wait_until(lambda: cloud.stats(tracked["message_id"])["events"], timeout=60)
    tracked_link = tracked["links"][0]["tracked_url"]
    assert tracked_link.startswith(cloud.click.url + "/c/")
    redirect = requests.get(
        tracked_link, headers={"User-Agent": BROWSER}, allow_redirects=False, timeout=30
    )
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == "https://example.com/deck"

    stats = wait_until(
        lambda: len((s := cloud.stats(tracked["message_id"]))["events"]) == 2 and s, timeout=60
    )
    assert stats["opens"]["human"] == 1 and stats["clicks"]["human"] == 1, stats["events"]
    assert [(e["kind"], e["verdict"]) for e in stats["events"]] == [
        ("open", "human"),
        ("click", "human"),
    ]
    assert stats["events"][0]["client"] == "gmail"
    assert stats["events"][1]["url"] == "https://example.com/deck"


def test_forged_tokens_answer_404_and_publish_nothing(cloud: Cloud) -> None:
    assert requests.get(cloud.pixel.url + "/p/forged.gif", timeout=30).status_code == 404
    assert requests.get(cloud.click.url + "/c/forged", timeout=30).status_code == 404
    # The click function serves clicks only, whatever token it is given.
    tracked = cloud.track()
    path = tracked["pixel_url"].split("/pixel", 1)[1]
    assert requests.get(cloud.click.url + path, timeout=30).status_code == 404


def _hit(message_id: str) -> Hit:
    return Hit(
        id=secrets.token_hex(12),
        kind="open",
        message_id=message_id,
        at=datetime.now(UTC),
        user_agent=GMAIL_PROXY,
        ip_hash="h",
        network="66.249.84.0/24",
    )


def test_the_same_pubsub_message_redelivered_five_times_counts_once(cloud: Cloud) -> None:
    tracked = cloud.track()
    edge = PubsubBus(
        cloud.env["GOOGLE_CLOUD_PROJECT"],
        topic_prefix=cloud.manual_prefix,
        emulator_host=cloud.env["PUBSUB_EMULATOR_HOST"],
    )
    edge.publish("hits", _hit(tracked["message_id"]).to_dict())
    sub = (
        f"projects/{cloud.env['GOOGLE_CLOUD_PROJECT']}/subscriptions/{cloud.manual_prefix}hits-pull"
    )
    seen: list[str] = []
    for delivery in range(5):
        (received,) = wait_until(
            lambda: cloud.admin.pull(cloud.manual_prefix + "hits-pull", immediately=True)
        )
        seen.append(received["message"]["messageId"])
        assert received["message"]["attributes"] == {
            "kind": "open",
            "message_id": tracked["message_id"],
        }
        response = cloud.consumer.post_json(push_envelope(received, sub))
        assert response.status_code == 200, response.text
        if delivery < 4:  # as if the acknowledgement were lost: Pub/Sub delivers it again
            cloud.admin.retry_in(cloud.manual_prefix + "hits-pull", received["ackId"], 0)
        else:
            cloud.admin.ack(cloud.manual_prefix + "hits-pull", received["ackId"])
    assert len(set(seen)) == 1  # one message, delivered five times
    stats = cloud.stats(tracked["message_id"])
    assert stats["opens"] == {"human": 1, "unique_human": 1, "machine": 0}
    assert len(stats["events"]) == 1


@pytest.mark.parametrize(
    "data",
    [b"\x00not json", b'"a string"', json.dumps({"kind": "open", "message_id": "x"}).encode()],
    ids=["bytes", "not-an-object", "not-a-hit"],
)
def test_a_malformed_message_is_acknowledged_and_logged(cloud: Cloud, data: bytes) -> None:
    cloud.admin.publish(cloud.manual_prefix + "hits", data, {"kind": "open"})
    (received,) = wait_until(
        lambda: cloud.admin.pull(cloud.manual_prefix + "hits-pull", immediately=True)
    )
    logged = len(cloud.consumer.log)
    response = cloud.consumer.post_json(push_envelope(received, "projects/p/subscriptions/s"))
    assert response.status_code == 200  # acknowledged: retrying cannot fix it
    cloud.admin.ack(cloud.manual_prefix + "hits-pull", received["ackId"])
    assert "malformed" in wait_until(lambda: cloud.consumer.log[logged:])


def test_a_firestore_outage_fails_the_delivery_so_pubsub_retries_and_nothing_is_lost(
    cloud: Cloud, tmp_path: Path
) -> None:
    tracked = cloud.track()
    hit = _hit(tracked["message_id"])
    cloud.admin.publish(cloud.manual_prefix + "hits", json.dumps(hit.to_dict()).encode())
    (received,) = wait_until(
        lambda: cloud.admin.pull(cloud.manual_prefix + "hits-pull", immediately=True)
    )
    envelope = push_envelope(received, "projects/p/subscriptions/s")
    outage = FunctionProcess(
        "process_hit",
        {
            **cloud.env,
            "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",  # nothing listens: UNAVAILABLE
            "MAILBEACON_FIRESTORE_TIMEOUT": "1",
        },
        tmp_path,
    ).start()
    try:
        assert outage.post_json(envelope).status_code == 500  # not acknowledged: redelivered
    finally:
        outage.stop()
    assert cloud.consumer.post_json(envelope).status_code == 200  # the redelivery succeeds
    cloud.admin.ack(cloud.manual_prefix + "hits-pull", received["ackId"])
    assert cloud.stats(tracked["message_id"])["opens"]["human"] == 1


def test_stats_against_firestore_refuses_an_unknown_message(cloud: Cloud) -> None:
    result = run_cli("stats", "nope", data_dir=cloud.data_dir, env=cloud.env)
    assert result.returncode != 0
    assert "no tracked message" in result.stderr


def _logged(function: FunctionProcess, severity: str) -> list[dict[str, Any]]:
    lines = function.log.splitlines()
    return [json.loads(line) for line in lines if f'"severity": "{severity}"' in line]


def test_when_pubsub_refuses_the_pixel_keeps_the_hit_and_the_sweep_records_it_once(
    cloud: Cloud, tmp_path: Path
) -> None:
    """Publishing fails (bounded retries): the GIF is served and the hit is kept in Firestore;
    the scheduler's sweep request, pushed to process_hit, republishes it, and it is recorded
    once. With Firestore down as well, the failure is an error and health says so."""
    tracked = cloud.track()
    path = tracked["pixel_url"].split("/pixel", 1)[1]
    refused = {**cloud.env, "PUBSUB_EMULATOR_HOST": "127.0.0.1:9"}
    down = FunctionProcess("pixel", refused, tmp_path).start()
    try:
        gif = requests.get(down.url + path, headers={"User-Agent": GMAIL_PROXY}, timeout=30)
        assert gif.status_code == 200 and len(gif.content) == 43
        [kept] = wait_until(lambda: _logged(down, "WARNING"))
        assert "kept in the store after 3 failed publishes" in kept["message"]
        assert requests.get(down.url + "/healthz", timeout=30).status_code == 200  # none lost
    finally:
        down.stop()
    assert cloud.stats(tracked["message_id"])["events"] == []  # kept, not yet processed
    prefix = cloud.env["MAILBEACON_TOPIC_PREFIX"]
    cloud.admin.publish(prefix + "hits", json.dumps(SWEEP_PAYLOAD).encode())  # Scheduler's
    events = wait_until(lambda: cloud.stats(tracked["message_id"])["events"], timeout=60)
    assert len(events) == 1
    both = {
        **refused,
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
        "MAILBEACON_FIRESTORE_TIMEOUT": "1",
    }
    broken = FunctionProcess("pixel", both, tmp_path).start()
    try:
        gif = requests.get(broken.url + path, headers={"User-Agent": GMAIL_PROXY}, timeout=60)
        assert gif.status_code == 200 and len(gif.content) == 43
        errors = wait_until(lambda: _logged(broken, "ERROR"))
        assert "could not record open hit" in errors[0]["message"]
        health = requests.get(broken.url + "/healthz", timeout=30)
        assert health.status_code == 503 and health.json()["status"] == "degraded"
    finally:
        broken.stop()
    assert len(cloud.stats(tracked["message_id"])["events"]) == 1


def test_process_hit_also_takes_the_cloudevent_an_eventarc_pubsub_trigger_sends(
    cloud: Cloud,
) -> None:
    tracked = cloud.track()
    hit = _hit(tracked["message_id"])
    data = base64.b64encode(json.dumps(hit.to_dict()).encode()).decode()
    event = {
        "specversion": "1.0",
        "id": "eventarc-1",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/p/topics/mailbeacon-hits",
        "datacontenttype": "application/json",
        "data": {
            "message": {"data": data, "messageId": "m-1", "attributes": {"kind": "open"}},
            "subscription": "projects/p/subscriptions/eventarc-sub",
        },
    }
    response = requests.post(
        cloud.consumer.url + "/",
        data=json.dumps(event),
        headers={"Content-Type": "application/cloudevents+json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    stats = cloud.stats(tracked["message_id"])
    assert [(e["kind"], e["verdict"]) for e in stats["events"]] == [("open", "human")]

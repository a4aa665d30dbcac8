"""PubsubBus against the Pub/Sub emulator: what the edge publishes is what consumers decode;
failures become BusUnavailable; `deliver` acknowledges junk and lets handler failures through."""

from __future__ import annotations

import base64
import logging
import secrets

import pytest

from functions.standins.pubsub_admin import PubsubAdmin
from mailbeacon.bus.pubsub import PubsubBus, deliver
from mailbeacon.errors import BusUnavailable, StoreUnavailable
from tests.support.emulators import Emulators
from tests.support.processes import wait_until


@pytest.mark.emulators
def test_a_published_payload_arrives_with_kind_and_message_id_attributes(
    emulators: Emulators,
) -> None:
    prefix = f"b{secrets.token_hex(3)}-"
    admin = PubsubAdmin(emulators.pubsub_host, emulators.project)
    admin.topic(prefix + "hits")
    admin.subscription(prefix + "hits-sub", prefix + "hits")
    bus = PubsubBus(emulators.project, topic_prefix=prefix, emulator_host=emulators.pubsub_host)
    payloads = [{"id": f"h{i}", "kind": "click", "message_id": "M1", "ua": "é"} for i in range(3)]
    for payload in payloads:  # over one kept-alive connection
        bus.publish("hits", payload)
    received = wait_until(
        lambda: (r := admin.pull(prefix + "hits-sub", immediately=True)) and len(r) == 3 and r
    )
    seen = []
    for r in received:
        assert r["message"]["attributes"] == {"kind": "click", "message_id": "M1"}
        delivered: list[dict] = []
        deliver(delivered.append, "hits", {"data": {"message": r["message"]}})
        seen += delivered
    assert sorted(seen, key=lambda p: p["id"]) == payloads


@pytest.mark.emulators
def test_publishing_to_a_missing_topic_or_a_dead_host_is_bus_unavailable(
    emulators: Emulators,
) -> None:
    with pytest.raises(BusUnavailable, match="HTTP 404"):
        PubsubBus(
            emulators.project, topic_prefix="nope-", emulator_host=emulators.pubsub_host
        ).publish("hits", {"kind": "open"})
    with pytest.raises(BusUnavailable, match="hits"):
        PubsubBus("p", emulator_host="127.0.0.1:9", timeout=2).publish("hits", {})
    with pytest.raises(BusUnavailable, match="GOOGLE_CLOUD_PROJECT"):
        PubsubBus(None)


def _event(data: bytes) -> dict:
    message = {"data": base64.b64encode(data).decode(), "messageId": "42"}
    return {"data": {"message": message}}


@pytest.mark.parametrize("data", [b"\xff\xfe", b"[1, 2]", b"null", b""])
def test_deliver_acknowledges_and_logs_what_is_not_a_json_object(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[dict] = []
    with caplog.at_level(logging.ERROR, logger="mailbeacon.bus.pubsub"):
        deliver(handled.append, "hits", _event(data))  # returns: acknowledged
    assert handled == []
    assert "malformed hits message 42" in caplog.text


def test_deliver_lets_a_handler_failure_through_so_pubsub_redelivers() -> None:
    def failing(_payload: dict) -> None:
        raise StoreUnavailable("Firestore unavailable")

    with pytest.raises(StoreUnavailable):
        deliver(failing, "hits", _event(b'{"id": "h1"}'))

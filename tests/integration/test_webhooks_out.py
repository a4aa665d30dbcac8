"""Events out: the Standard Webhooks channel on the in-process app, its deliveries verified
with the specification's own library (standardwebhooks 1.3.0), one delivery per event and
endpoint however often the bus redelivers, retried with backoff under the same webhook-id,
failures that retrying cannot mend shown as problems; the domain's own endpoint beside the
user's; the settings command's contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from functions.standins.webhooks import WebhookReceiver
from mailbeacon.bus import NOTIFY
from mailbeacon.errors import RetryLater
from mailbeacon.policy import PolicyChange, update_policy
from tests.support.processes import run_cli

from .conftest import Rig

ANA = "ana@example.com"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"


@pytest.fixture
def endpoint() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver((200, {}, b""))
    yield receiver
    receiver.stop()


@pytest.fixture
def rig(make_rig, endpoint: WebhookReceiver) -> Rig:  # type: ignore[no-untyped-def]
    rig: Rig = make_rig()
    rig.clock.at = datetime.now(UTC)  # the library checks the timestamp against wall time
    data = rig.app.config.core.data_dir
    shown = run_cli(
        "settings", "--user", ANA, "--webhook-url", endpoint.url + "/in", "--json", data_dir=data
    )
    assert shown.returncode == 0, shown.stderr
    return rig


def verified(rig: Rig, request: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    """The body, after the reference library checked the signature (it also refuses a
    timestamp more than five minutes from now: the deliveries are signed with the app's
    clock, today)."""
    secret = secret or rig.app.store.get_settings(ANA).webhook_secret
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return Webhook(secret).verify(request["body"], headers)  # type: ignore[no-any-return]


def test_the_settings_command_shows_the_endpoint_and_its_secret(
    rig: Rig, endpoint: WebhookReceiver
) -> None:
    data = rig.app.config.core.data_dir
    shown = json.loads(run_cli("settings", "--user", ANA, "--json", data_dir=data).stdout)
    assert shown["webhook"]["url"] == endpoint.url + "/in"
    assert shown["webhook"]["secret"].startswith("whsec_")
    rotated = run_cli("settings", "--user", ANA, "--rotate-webhook-secret", "--json", data_dir=data)
    assert json.loads(rotated.stdout)["webhook"]["secret"] != shown["webhook"]["secret"]
    refused = run_cli(
        "settings", "--user", ANA, "--webhook-url", "https://10.1.2.3/x", data_dir=data
    )
    assert refused.returncode == 2 and "not a public host" in refused.stderr
    cleared = run_cli("settings", "--user", ANA, "--webhook-url", "", "--json", data_dir=data)
    assert json.loads(cleared.stdout)["webhook"] is None


def test_opens_clicks_and_replies_go_out_signed_machines_do_not(
    rig: Rig, endpoint: WebhookReceiver
) -> None:
    tracked = rig.track(links=["https://example.com/offer"])
    rig.open(tracked, user_agent=SCANNER)  # a scanner: no event goes out
    rig.open(tracked)
    rig.click(tracked)
    rig.settle()
    bodies = [verified(rig, r) for r in endpoint.requests]
    assert [b["type"] for b in bodies] == ["email.opened", "email.clicked"]
    opened = bodies[0]
    assert opened["data"]["message_id"] == tracked.message.id
    assert opened["data"]["subject"] == "Quarterly plan"
    assert opened["data"]["verdict"] == "human" and opened["data"]["reasons"]
    assert bodies[1]["data"]["url"] == "https://example.com/offer"
    first = endpoint.requests[0]["headers"]
    assert first["webhook-id"].startswith("msg_") and first["Content-Type"] == "application/json"

    from mailbeacon.replies import ThreadMail

    mail = ThreadMail("18c9", "t9", ("INBOX",), {"from": "bo@example.org"}, rig.clock.now())
    rig.app.replies.record(tracked.message, mail)
    rig.settle()
    replied = verified(rig, endpoint.requests[-1])
    assert replied["type"] == "email.replied" and replied["data"]["from"] == "bo@example.org"
    count = len(endpoint.requests)
    event = rig.app.store.list_events(tracked.message.id)[-1]
    rig.app.bus.publish(NOTIFY, {"event_id": event.id, "message_id": tracked.message.id})
    rig.settle()  # redelivered: nothing goes out twice
    assert len(endpoint.requests) == count


def test_a_failing_endpoint_is_retried_with_the_same_id_then_succeeds(
    rig: Rig, endpoint: WebhookReceiver
) -> None:
    endpoint.then(503, b"busy").then(429, b"slow down", Retry_After="120")
    tracked = rig.track()
    rig.open(tracked)
    rig.app.worker.drain(["hits"])  # type: ignore[union-attr]
    (event,) = rig.app.store.list_events(tracked.message.id)
    payload = {"event_id": event.id, "message_id": tracked.message.id}
    with pytest.raises(RetryLater) as first:
        rig.app.notifier.handle(payload)
    assert first.value.seconds == 10  # the first step of the backoff
    rig.clock.advance(seconds=10)
    with pytest.raises(RetryLater) as second:
        rig.app.notifier.handle(payload)
    assert second.value.seconds == 120  # the endpoint's Retry-After, longer than the backoff
    rig.clock.advance(seconds=120)
    rig.app.notifier.handle(payload)
    rig.app.notifier.handle(payload)  # and once more: delivered already
    ids = {r["headers"]["webhook-id"] for r in endpoint.requests}
    stamps = [r["headers"]["webhook-timestamp"] for r in endpoint.requests]
    assert len(endpoint.requests) == 3 and len(ids) == 1 and len(set(stamps)) == 3
    assert verified(rig, endpoint.requests[-1])["type"] == "email.opened"
    assert rig.problems() == ()


def test_gone_or_refused_endpoints_are_problems_not_retries(
    rig: Rig, endpoint: WebhookReceiver
) -> None:
    endpoint.then(410, b"gone")
    rig.open(rig.track())
    rig.settle()
    (problem,) = rig.problems()
    assert "webhook:" in problem and "410" in problem and "the endpoint is gone" in problem
    # a row written before the rules tightened is checked again before every send
    store = rig.app.store
    store.put_settings(replace(store.get_settings(ANA), webhook_url="https://127.0.0.2/hook"))
    rig.open(rig.track("Second"))
    rig.settle()
    assert any("127.0.0.2 is not a public host" in p for p in rig.problems())
    assert len(endpoint.requests) == 1


def test_the_domains_endpoint_gets_every_senders_events(
    make_rig, endpoint: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    rig: Rig = make_rig()
    rig.clock.at = datetime.now(UTC)
    crm = WebhookReceiver((500, {}, b"down"))
    try:
        policy = update_policy(
            rig.app.records, "example.com",
            PolicyChange(webhook_url=crm.url + "/crm", admins=["it@example.com"]),
            actor="it@example.com", at=rig.clock.now(), allow_hosts=("127.0.0.1",),
        )  # fmt: skip
        assert policy.webhook_secret and policy.webhook_secret.startswith("whsec_")
        crm.default = (200, {}, b"")
        rig.open(rig.track())
        rig.settle()
        (request,) = crm.requests
        body = verified(rig, request, policy.webhook_secret)
        assert body["type"] == "email.opened" and body["data"]["verdict"] == "human"
        assert endpoint.requests == []  # Ana set no endpoint of her own
        crm.default = (404, {}, b"no such hook")
        rig.open(rig.track("Again"))
        rig.settle()
        admin = rig.app.store.get_settings("it@example.com").problems
        assert any("webhook-domain:" in p and "404" in p for p in admin)
        assert rig.problems() == ()  # the sender is not blamed for the domain's endpoint
    finally:
        crm.stop()


def test_the_admins_can_turn_personal_webhooks_off(rig: Rig, endpoint: WebhookReceiver) -> None:
    data = rig.app.config.core.data_dir
    off = run_cli(
        "policy", "--domain", "example.com", "--user-webhooks", "off", "--json", data_dir=data
    )
    assert json.loads(off.stdout)["user_webhooks"] is False
    rig.open(rig.track())
    rig.settle()
    assert endpoint.requests == []
    assert any("personal webhooks are off" in p for p in rig.problems())
    refused = run_cli(
        "settings", "--user", ANA, "--webhook-url", endpoint.url + "/x", data_dir=data
    )
    assert refused.returncode == 2 and "do not allow personal webhooks" in refused.stderr

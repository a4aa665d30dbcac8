"""Coalescing, quiet hours and the digest through the whole pipeline, on an injected clock."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from functions.standins.webhooks import WebhookReceiver
from mailbeacon.bus import DIGEST, NOTIFY
from mailbeacon.model import Notify, QuietHours
from tests.support.processes import run_cli

from .conftest import Rig


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def rig(make_rig, hook: WebhookReceiver) -> Rig:  # type: ignore[no-untyped-def]
    rig = make_rig()
    rig.settings(slack_webhook=hook.url + "/hook", notify=Notify.EVERY_OPEN)
    return rig


def make_due(rig: Rig) -> None:
    """The outbox honours Retry-After on the wall clock; the test's clock has moved on."""
    with rig.app.bus.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE outbox SET available_at = 0")


def texts(hook: WebhookReceiver) -> list[str]:
    return [b["text"].splitlines()[0] for b in hook.json_bodies()]


def test_repeat_opens_are_coalesced_into_one_alert(rig: Rig, hook: WebhookReceiver) -> None:
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert texts(hook) == ["bo@example.org opened “Quarterly plan”"]
    for _ in range(3):
        rig.clock.advance(minutes=2)
        rig.open(tracked)
        rig.settle()
    assert len(hook.requests) == 1  # held while the window is open
    assert rig.app.bus.pending(NOTIFY) == 3
    rig.clock.advance(minutes=5)  # 11 minutes after the first alert
    make_due(rig)
    rig.settle()
    assert texts(hook)[1:] == ["“Quarterly plan” was opened again (3 times)"]
    assert rig.app.bus.pending(NOTIFY) == 0
    make_due(rig)
    rig.settle()
    assert len(hook.requests) == 2


def test_quiet_hours_hold_alerts_for_the_digest(rig: Rig, hook: WebhookReceiver) -> None:
    hour = rig.clock.now().hour
    rig.settings(quiet_hours=QuietHours(hour, (hour + 2) % 24), timezone="UTC")
    tracked = rig.track(links=["https://example.com/offer"])
    rig.open(tracked)
    rig.click(tracked)
    rig.settle()
    assert hook.requests == []
    assert len(rig.app.store.list_records("notify-held", "ana@example.com/")) == 2
    unopened = rig.track("Never opened")
    assert unopened  # sent a day ago (the rig's default), never opened
    rig.clock.advance(days=2)
    rig.app.bus.publish(DIGEST, {"date": "today"})  # what Cloud Scheduler / the serve thread send
    rig.app.worker.drain([DIGEST])
    [digest] = hook.json_bodies()
    assert digest["text"].startswith("Your Mailbeacon digest (1 opened, 1 clicked)")
    body = json.dumps(digest["blocks"])
    assert "Held back by quiet hours" in body and "clicked a link" in body
    assert "https://example.com/offer" in body and "Never opened" in body
    assert rig.app.store.list_records("notify-held", "ana@example.com/") == []
    rig.app.bus.publish(DIGEST, {"date": "today"})  # redelivered: still one digest
    rig.app.worker.drain([DIGEST])
    assert len(hook.requests) == 1


def test_mailbeacon_digest_cli_sends_now(tmp_path, hook: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "cli"
    settings = run_cli(
        "settings", "--user", "ana@example.com", "--slack-webhook", hook.url + "/d", data_dir=data
    )
    assert settings.returncode == 0, settings.stderr
    tracked = run_cli(
        "track", "--sender", "ana@example.com", "--to", "bo@example.org", "--subject", "Old news",
        "--sent-at", "2020-01-01T00:00:00Z", "--json", data_dir=data,
    )  # fmt: skip
    assert tracked.returncode == 0
    result = run_cli("digest", "--user", "ana@example.com", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "sent" in result.stdout
    [body] = hook.json_bodies()
    assert "Not opened yet" in json.dumps(body) and "Old news" in json.dumps(body)
    bad = run_cli("digest", "--user", "not-an-address", data_dir=data)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1

"""What the outside judge does: `mailbeacon serve`, a webhook set with `mailbeacon settings`,
a tracked message opened by a person and another hit only by machines."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.standins.webhooks import WebhookReceiver
from tests.support.processes import ServerProcess, wait_until

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir=tmp_path / "data").start()
    yield proc
    proc.stop()


def fetch(url: str, *, user_agent: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, headers={"User-Agent": user_agent})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def events(server: ServerProcess, message_id: str) -> list[dict]:
    return server.cli_json("stats", message_id)["events"]


@pytest.mark.parametrize("user_agent", [CHROME, GMAIL_PROXY], ids=["browser", "gmail-proxy"])
def test_one_alert_for_a_human_open_none_for_machines(
    served: ServerProcess, receiver: WebhookReceiver, user_agent: str
) -> None:
    hook = f"{receiver.url}/services/T000/B000/XXXX"
    settings = served.cli_json("settings", "--user", "ana@example.com", "--slack-webhook", hook)
    assert settings["slack_webhook"] == hook

    def track(subject: str) -> dict:
        return served.cli_json(
            "track",
            "--sender", "ana@example.com",
            "--to", "bo@example.org",
            "--subject", subject,
            "--sent-at", "2026-01-05T09:00:00Z",
        )  # fmt: skip

    scanned = track("Scanned only")
    assert fetch(scanned["pixel_url"], user_agent=CHROME, method="HEAD") == 200
    assert fetch(scanned["pixel_url"], user_agent="python-requests/2.32") == 200
    machine = wait_until(lambda: len(events(served, scanned["message_id"])) == 2 or None)
    assert machine and all(e["verdict"] != "human" for e in events(served, scanned["message_id"]))

    opened = track("Quarterly plan")
    assert fetch(opened["pixel_url"], user_agent=user_agent) == 200
    assert fetch(opened["pixel_url"], user_agent=user_agent) == 200  # a second look: no new alert
    receiver.wait_for(1)
    wait_until(lambda: len(events(served, opened["message_id"])) == 2)
    served.cli("stats", opened["message_id"])  # everything processed; the outbox is empty...
    wait_until(lambda: _outbox_empty(served.data_dir))  # ...and the notifier has run
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["method"] == "POST" and request["path"] == "/services/T000/B000/XXXX"
    assert request["headers"]["Content-Type"].startswith("application/json")
    body = json.loads(request["body"])
    assert "Quarterly plan" in body["text"] and "bo@example.org" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert "Scanned only" not in request["body"].decode()
    # the alert's button opens the message page, keyed for its owner
    button = next(
        e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url")
    )
    with urllib.request.urlopen(button["url"], timeout=10) as page:
        html = page.read().decode()
    assert "Quarterly plan" in html and 'id="status">Opened<' in html


def _outbox_empty(data_dir: Path) -> bool:
    import sqlite3

    with sqlite3.connect(data_dir / "mailbeacon.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE dead = 0").fetchone()[0] == 0


def test_settings_cli_covers_every_channel_option(tmp_path: Path) -> None:
    from tests.support.processes import cli_json, run_cli

    data = tmp_path / "cli"
    m1, m2 = (
        cli_json("track", "--sender", "ana@example.com", "--to", "bo@example.org",
                 data_dir=data)["message_id"]
        for _ in range(2)
    )  # fmt: skip
    shown = cli_json(
        "settings", "--user", "Ana@Example.com",
        "--slack-webhook", "http://127.0.0.1:9/hook", "--slack-app-dm", "on",
        "--chat-webhook", "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
        "--chat-app-dm", "on", "--email-to", "alerts@example.com", "--notify", "every-open",
        "--quiet-hours", "22-7", "--timezone", "Europe/Berlin", "--mute", m1, "--mute", m2,
        data_dir=data,
    )  # fmt: skip
    assert (
        shown["user"] == "ana@example.com" and shown["slack_webhook"] == "http://127.0.0.1:9/hook"
    )
    assert shown["slack_app_dm"] and shown["chat_app_dm"] and shown["notify"] == "every-open"
    assert shown["quiet_hours"] == {"start": 22, "end": 7} and shown["timezone"] == "Europe/Berlin"
    assert shown["muted"] == [m1, m2] and shown["problems"] == []
    after = cli_json("settings", "--user", "ana@example.com", "--unmute", m1, data_dir=data)
    assert after["muted"] == [m2] and after["email_to"] == "alerts@example.com"
    for bad in (["--slack-webhook", "javascript:alert(1)"], ["--quiet-hours", "25-3"]):
        result = run_cli("settings", "--user", "ana@example.com", *bad, data_dir=data)
        assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert cli_json("settings", "--user", "ana@example.com", data_dir=data) == after


def test_the_cli_takes_an_alert_email_domain_the_operator_allowed_and_no_other(
    tmp_path: Path,
) -> None:
    from tests.support.processes import cli_json, run_cli

    data, allowed = tmp_path / "cli", {"MAILBEACON_ALERT_EMAIL_DOMAINS": "partner.example"}
    args = ("settings", "--user", "ana@example.com", "--email-to")
    shown = cli_json(*args, "desk@partner.example", data_dir=data, env=allowed)
    assert shown["email_to"] == "desk@partner.example"
    refused = run_cli(*args, "eve@elsewhere.example", data_dir=data, env=allowed)
    assert refused.returncode == 2 and "partner.example" in refused.stderr
    unlisted = run_cli(*args, "desk@partner.example", data_dir=tmp_path / "other")
    assert unlisted.returncode == 2 and not (tmp_path / "other").exists()


def test_a_slow_webhook_delays_neither_the_pixel_nor_other_users_alerts(
    served: ServerProcess,
) -> None:
    slow = WebhookReceiver(delay=30)  # holds every answer until released
    fast = WebhookReceiver()
    try:
        for user, hook in (("ana@example.com", slow), ("bo@example.com", fast)):
            served.cli_json(
                "settings", "--user", user, "--slack-webhook", f"{hook.url}/services/T0/B0/X"
            )
        sent = ("--sent-at", "2026-01-05T09:00:00Z")
        ana = served.cli_json(
            "track", "--sender", "ana@example.com", "--to", "x@example.org", *sent
        )
        bo = served.cli_json("track", "--sender", "bo@example.com", "--to", "y@example.org", *sent)
        assert fetch(ana["pixel_url"], user_agent=CHROME) == 200
        slow.wait_for(1)  # Ana's alert is now stuck in her slow webhook...
        assert fetch(bo["pixel_url"], user_agent=CHROME) == 200  # ...the pixel still answers
        assert fetch(ana["pixel_url"], user_agent=CHROME) == 200
        fast.wait_for(1, timeout=5)  # ...Bo's alert goes out while Ana's is held (10 s timeout)
        assert not slow._released.is_set() and len(slow.requests) == 1
        assert "y@example.org" in fast.json_bodies()[0]["text"]
    finally:
        slow.release()
        slow.stop()
        fast.stop()

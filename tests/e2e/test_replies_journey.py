"""The journey the issue is judged by, against `mailbeacon serve` as a process: track, send
from the loopback Gmail, a person opens; a reminder falls due in Slack with its buttons and is
snoozed through one; an out-of-office reply and a person's reply arrive in the thread (the
sent-mail watch hears of both); then the list, the email's page, the API and the Slack alerts
say what happened, the auto-reply never counted as a reply."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.standins.gmail import Gmail
from functions.standins.webhooks import WebhookReceiver
from tests.support.processes import ServerProcess, wait_until

from .conftest import GMAIL

ANA, BO = "ana@example.com", "bo@example.org"
TOPIC = "projects/mb-test/topics/gmail"


@pytest.fixture
def served(tmp_path: Path, gmail: Gmail) -> Iterator[ServerProcess]:
    env = {
        "MAILBEACON_GMAIL_CREDENTIALS": str(gmail.key_file(tmp_path)),
        "MAILBEACON_GMAIL_API_URL": gmail.url,
        "MAILBEACON_GMAIL_WATCH_TOPIC": TOPIC,
        "MAILBEACON_REMINDER_SCAN_SECONDS": "0.3",
    }
    proc = ServerProcess(tmp_path / "data", ("--insecure-dev-auth",), env).start()
    yield proc
    proc.stop()


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer dev:{ANA}"}
    return requests.request(method, server.url + path, json=body, headers=headers, timeout=10)


def signed_in(server: ServerProcess) -> requests.Session:
    """The dashboard's dev sign-in form (``--insecure-dev-auth``), as a browser posts it."""
    session = requests.Session()
    page = session.get(server.url + "/dashboard/signin", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = session.post(
        server.url + "/dashboard/signin/dev", data={"email": ANA, "csrf": csrf}, timeout=10
    )
    assert done.status_code == 200 and 'id="messages"' in done.text  # on to the list
    return session


def push(server: ServerProcess, gmail: Gmail) -> None:
    data = json.dumps({"emailAddress": ANA, "historyId": str(gmail.box(ANA).history_id)})
    assert server.cli("gmail-watch", "push", "--data", data).returncode == 0


def arrived(slack_webhook: WebhookReceiver, count: int) -> None:
    wait_until(lambda: len(slack_webhook.requests) >= count)


def texts(slack_webhook: WebhookReceiver) -> list[str]:
    return [body["text"] for body in slack_webhook.json_bodies()]


@pytest.mark.slow
def test_track_open_remind_snooze_auto_reply_and_reply(
    served: ServerProcess, gmail: Gmail, slack_webhook: WebhookReceiver
) -> None:
    hook = f"{slack_webhook.url}/services/T0/B0/x"
    assert served.cli_json("settings", "--user", ANA, "--slack-webhook", hook)["reply_alerts"]
    made = api(served, "POST", "/api/v1/messages", {"to": [BO], "subject": "Proposal"})
    assert made.status_code == 201
    tracked = made.json()
    message_id = tracked["message_id"]
    assert served.cli("gmail-watch", "renew").returncode == 0
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # a later open is no send-time fetch
    html = f"<p>Hi Bo</p>{tracked['html']}"
    original = gmail.send(ANA, html=html, to=BO, rfc_id="<p1@x>", at=an_hour_ago)
    push(served, gmail)  # the watch: sent now, from this thread

    assert requests.get(tracked["pixel_url"], headers={"User-Agent": GMAIL}, timeout=5).ok
    arrived(slack_webhook, 1)
    assert texts(slack_webhook)[0].startswith(f"{BO} opened “Proposal”")

    due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    set_ = api(served, "POST", f"/api/v1/messages/{message_id}/reminder", {"due_at": due})
    assert set_.status_code == 200 and set_.json()["reminder"]["state"] == "scheduled"
    arrived(slack_webhook, 2)
    reminder = slack_webhook.json_bodies()[1]
    assert (
        reminder["text"].startswith("No reply yet to “Proposal”")
        and "opened once" in reminder["text"]
    )
    elements = [e for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]]
    snooze = next(e["url"] for e in elements if e["text"]["text"] == "Snooze 1 day")
    page = requests.get(snooze, timeout=5)  # what a link scanner would fetch: nothing happens
    assert page.status_code == 200 and "Snooze 1 day" in page.text
    # "due" once the notifier has sent it, a moment after the post itself (mark_sent)
    wait_until(
        lambda: (
            api(served, "GET", f"/api/v1/messages/{message_id}").json()["reminder"]["state"]
            == "due"
        )
    )
    token = re.search(r'name="t" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (
        "Snoozed" in requests.post(served.url + "/reminders/act", data={"t": token}, timeout=5).text
    )
    assert (
        api(served, "GET", f"/api/v1/messages/{message_id}").json()["reminder"]["state"]
        == "scheduled"
    )

    away = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes", "Precedence": "bulk"}
    gmail.reply(ANA, original, sender=BO, headers=away)
    gmail.reply(ANA, original, sender=f"Bo <{BO}>")
    push(served, gmail)
    arrived(slack_webhook, 3)
    assert texts(slack_webhook)[2].startswith(f"{BO} replied to “Proposal”")

    detail = wait_until(
        lambda: (
            (d := api(served, "GET", f"/api/v1/messages/{message_id}").json())["status"]
            == "replied"
            and d
        )
    )
    assert detail["replies"]["human"] == 1 and detail["replies"]["machine"] == 1
    assert detail["reminder"]["state"] == "cancelled"
    kinds = sorted((e["client"], e["verdict"]) for e in detail["events"] if e["kind"] == "reply")
    assert kinds == [("auto-reply", "bot"), ("reply", "human")]
    listed = api(served, "GET", "/api/v1/messages?status=replied").json()["messages"]
    assert [m["message_id"] for m in listed] == [message_id]

    browser = signed_in(served)
    rows = browser.get(served.url + "/dashboard/messages?status=replied", timeout=10).text
    assert f'data-message-id="{message_id}"' in rows and 's-replied">Replied' in rows
    page = browser.get(f"{served.url}/dashboard/messages/{message_id}", timeout=10).text
    assert 'id="replies">1 reply by people' in page and "automatic (out of office" in page
    assert f"from {BO}" in page and "Reminder: <b>not needed, a person replied</b>" in page
    assert len(slack_webhook.requests) == 3  # the auto-reply alerted nobody

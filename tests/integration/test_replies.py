"""Replies through the loopback Gmail (functions/standins/gmail.py: shapes from the gmail v1
discovery document google-api-python-client ships): the sent-mail watch hears of every message
added to a tracked email's thread, any label, and records a person's reply, an out-of-office
reply and a bounce apart; a reply the recipient moved to a new thread is found by its
In-Reply-To. The reply reaches the API, the list's status filter, a Slack alert, and cancels
the email's reminder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import load_config
from functions.standins.gmail import Gmail
from functions.standins.webhooks import LOOPBACK_WEBHOOKS, WebhookReceiver
from mailbeacon import reminders
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.sentwatch import handle_push, renew_watches
from mailbeacon.settings import SettingsChange
from mailbeacon.tracking import TrackedMessage, track_message

from .conftest import START

ANN = "ann@acme.test"
BO = "bo@example.org"
TOPIC = "projects/mb-test/topics/gmail-sent"
RFC_ID = "<CAF=prop1@mail.gmail.com>"
# Gmail's vacation responder (multi_mail wiki; freescout #4598)
VACATION = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes", "Precedence": "bulk"}
DSN = {  # an Exim bounce: Auto-Submitted next to X-Failed-Recipients (fixmystreet #2336)
    "Auto-Submitted": "auto-replied",
    "Content-Type": 'multipart/report; report-type="delivery-status"; boundary="b1"',
    "X-Failed-Recipients": "cy@example.org",
}


@pytest.fixture
def app(gmail: Gmail, tmp_path: Path) -> Iterator[App]:
    env = {
        **LOOPBACK_WEBHOOKS,
        "MAILBEACON_GMAIL_CREDENTIALS": str(gmail.key_file(tmp_path)),
        "MAILBEACON_GMAIL_API_URL": gmail.url,
        "MAILBEACON_GMAIL_WATCH_TOPIC": TOPIC,
    }
    config = load_config(
        env, data_dir=tmp_path / "data", public_url="http://mb.test", insecure_dev_auth=True
    )
    app = bootstrap(config, clock=FixedClock(START))
    yield app
    app.close()


def sent(app: App, gmail: Gmail) -> tuple[TrackedMessage, str]:
    """Ann tracks a draft to Bo and Cy, sends it from Gmail; the watch records it."""
    tracked = track_message(
        app.store, app.urls, app.clock, sender=ANN, recipients=(BO, "cy@example.org"),
        subject="Proposal", records=app.records,
    )  # fmt: skip
    assert app.mailbox is not None
    renew_watches(app.mailbox, app.records, [ANN], TOPIC, START)
    html = f"<p>Proposal attached.</p>{tracked.to_public()['html']}"
    gmail_id = gmail.send(
        ANN, html=html, to=f"{BO}, cy@example.org", at=START + timedelta(minutes=5), rfc_id=RFC_ID
    )
    assert push(app, gmail) == [tracked.message.id]
    return tracked, gmail_id


def push(app: App, gmail: Gmail) -> list[str]:
    assert app.mailbox is not None
    data = {"emailAddress": ANN, "historyId": str(gmail.box(ANN).history_id)}
    return handle_push(app.mailbox, app.store, app.records, app.signer, data, replies=app.replies)


def api(app: App, path: str) -> Any:
    response = (
        create_app(app).test_client().get(path, headers={"Authorization": f"Bearer dev:{ANN}"})
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_watch_tells_replies_from_auto_replies_and_bounces(app: App, gmail: Gmail) -> None:
    tracked, original = sent(app, gmail)
    later = START + timedelta(hours=3)
    gmail.reply(ANN, original, sender=BO, headers=VACATION, at=later)  # out of office
    gmail.reply(ANN, original, sender="Mailer-Daemon@mx.example.org", headers=DSN, at=later)
    gmail.reply(ANN, original, sender=ANN, labels=("SENT",), at=later)  # Ann's own follow-up
    gmail.send(ANN, html="<p>draft</p>", labels=("DRAFT",), thread_id=original)  # a draft
    gmail.send(ANN, html="<p>newsletter</p>", sender="news@shop.example", labels=("INBOX",))
    reply = gmail.reply(ANN, original, sender=f"Bo <{BO}>", at=later + timedelta(hours=1))
    moved = gmail.reply(  # Cy changed the subject: Gmail started a new thread
        ANN, original, sender="cy@example.org", subject="Pricing question", new_thread=True,
        at=later + timedelta(hours=2),
    )  # fmt: skip
    gmail.calls.clear()
    push(app, gmail)

    events = [e for e in app.store.list_events(tracked.message.id) if e.kind == "reply"]
    found = {(e.sender, e.client, e.verdict.value) for e in events}
    assert found == {
        (BO, "auto-reply", "bot"),
        ("mailer-daemon@mx.example.org", "bounce", "bot"),
        (BO, "reply", "human"),
        ("cy@example.org", "reply", "human"),
    }
    bounce = next(e for e in events if e.client == "bounce")
    assert bounce.reasons == ("bounce", "delivery-status-report")
    fetched = [path.rsplit("/", 1)[1] for _, method, path in gmail.calls if "/messages/" in path]
    assert reply in fetched and moved in fetched
    assert not any("DRAFT" in gmail.box(ANN).messages[i]["labelIds"] for i in fetched)
    push(app, gmail)  # the same notification again (Pub/Sub redelivers): nothing new
    assert len([e for e in app.store.list_events(tracked.message.id) if e.kind == "reply"]) == 4

    detail = api(app, f"/api/v1/messages/{tracked.message.id}")
    assert detail["status"] == "replied"
    assert detail["replies"] == {
        "human": 2, "machine": 2, "first_replied_at": detail["replies"]["first_replied_at"]
    }  # fmt: skip
    assert detail["opens"]["human"] == 1 and detail["opens_implied_by_reply"] == 1
    listed = api(app, "/api/v1/messages?status=replied")["messages"]
    assert [m["message_id"] for m in listed] == [tracked.message.id]
    opened = api(app, "/api/v1/messages?status=opened")["messages"]  # statuses nest
    assert [m["message_id"] for m in opened] == [tracked.message.id]
    assert api(app, "/api/v1/messages?status=sent")["messages"] == []


def test_metadata_reads_ask_for_the_reply_headers_only(app: App, gmail: Gmail) -> None:
    _, original = sent(app, gmail)
    gmail.reply(ANN, original, sender=BO, at=START + timedelta(hours=2))
    gmail.server.requests.clear()
    push(app, gmail)
    gets = [r["path"] for r in gmail.server.requests if "/messages/" in r["path"]]
    assert gets and all(
        "format=metadata" in p and "metadataHeaders=Auto-Submitted" in p for p in gets
    )
    history = [r["path"] for r in gmail.server.requests if "/history" in r["path"]]
    assert history and all("labelId" not in p for p in history)  # every label


def test_a_reply_alerts_the_sender_and_cancels_the_reminder_an_auto_reply_does_neither(
    app: App, gmail: Gmail, slack_webhook: WebhookReceiver
) -> None:
    tracked, original = sent(app, gmail)
    app.settings.update(ANN, SettingsChange(slack_webhook=slack_webhook.url + "/services/T/B/x"))
    message = tracked.message
    reminders.set_reminder(app.records, message, START + timedelta(days=3), app.clock.now())
    gmail.reply(ANN, original, sender=BO, headers=VACATION, at=START + timedelta(hours=1))
    push(app, gmail)
    assert app.worker is not None
    app.worker.drain([HITS, NOTIFY])
    assert slack_webhook.requests == []  # an out-of-office reply is nobody's answer
    assert reminders.public(app.records, message.id)["state"] == "scheduled"  # type: ignore[index]

    gmail.reply(ANN, original, sender=BO, at=START + timedelta(hours=2))
    push(app, gmail)
    app.worker.drain([HITS, NOTIFY])
    (alert,) = slack_webhook.json_bodies()
    assert alert["text"].startswith(f"{BO} replied to “Proposal”")
    assert reminders.public(app.records, message.id) == {
        "due_at": reminders.public(app.records, message.id)["due_at"],  # type: ignore[index]
        "state": "cancelled",
        "reason": "replied",
    }


def test_reply_alerts_can_be_turned_off(
    app: App, gmail: Gmail, slack_webhook: WebhookReceiver
) -> None:
    _, original = sent(app, gmail)
    app.settings.update(
        ANN, SettingsChange(slack_webhook=slack_webhook.url + "/services/T/B/x", reply_alerts=False)
    )
    gmail.reply(ANN, original, sender=BO, at=START + timedelta(hours=2))
    push(app, gmail)
    assert app.worker is not None
    app.worker.drain([HITS, NOTIFY])
    assert slack_webhook.requests == []
    assert json.dumps(api(app, "/api/v1/messages?status=replied")["messages"]).count(BO) == 1

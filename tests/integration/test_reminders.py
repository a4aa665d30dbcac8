"""Follow-up reminders end to end on the in-process app: due, handed over once however many
schedulers sweep (two processes on one store: SQLite, and Firestore on its emulator) and
however often the bus redelivers, snoozed and done through the signed links and the Slack and
Chat app buttons, held by quiet hours, cancelled by a reply; the API and the CLI."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import load_config
from functions.standins.slack import Slack
from functions.standins.webhooks import LOOPBACK_WEBHOOKS, WebhookReceiver
from mailbeacon import reminders
from mailbeacon.bus import NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.replies import ThreadMail
from mailbeacon.settings import SettingsChange
from mailbeacon.tracking import track_message
from notifier.chat_events import handle_chat_event
from tests.support.processes import run_cli

from .conftest import START, Rig
from .test_notify_slack_app import SIGNING_SECRET, install, signed

ANA = "ana@example.com"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.emulators)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[App, App]]:
    """Two processes on one store (cluster mode), one clock."""
    config = load_config(LOOPBACK_WEBHOOKS, data_dir=tmp_path / "data", public_url="http://mb.test")
    clock = FixedClock(START)
    stores: list[Any] = [None, None]
    if request.param == "firestore":
        request.getfixturevalue("emulators")
        from mailbeacon.store.firestore import FirestoreStore
        from tests.support.emulators import PROJECT

        prefix = f"rem{secrets.token_hex(4)}_"
        stores = [FirestoreStore(project=PROJECT, prefix=prefix, flush_interval=0.01)]
        stores.append(FirestoreStore(project=PROJECT, prefix=prefix, flush_interval=0.01))
    apps = tuple(bootstrap(config, clock=clock, store=s) for s in stores)
    yield apps  # type: ignore[misc]
    for app in apps:
        app.close()


def buttons(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    elements = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return {e["text"]["text"]: e for e in elements}


def act(app: App, url: str) -> Any:
    path = url.removeprefix("http://mb.test")
    return create_app(app).test_client().post(path)


def test_due_once_across_two_schedulers_and_redeliveries_then_snoozed_and_cancelled(
    cluster: tuple[App, App], hook: WebhookReceiver
) -> None:
    one, two = cluster
    one.settings.update(ANA, SettingsChange(slack_webhook=hook.url + "/services/T/B/x"))
    message = track_message(
        one.store, one.urls, one.clock, sender=ANA, recipients=["bo@example.org"],
        subject="Proposal", sent_at=START, records=one.records,
    ).message  # fmt: skip
    reminders.set_reminder(one.records, message, START + timedelta(days=2), START)
    one.clock.advance(days=2, minutes=1)  # type: ignore[attr-defined]
    assert one.consumers.publish_due_reminders() + two.consumers.publish_due_reminders() == 1
    assert one.worker is not None
    one.worker.drain([NOTIFY])
    (alert,) = hook.json_bodies()
    assert alert["text"].startswith("No reply yet to “Proposal”. Sent ")
    assert "not opened yet, no reply" in alert["text"]
    links = buttons(alert)
    assert set(links) == {"Snooze 1 day", "Snooze 3 days", "Done", "Open in Gmail"}
    fire = int((START + timedelta(days=2)).timestamp())
    handover = {"kind": "reminder", "message_id": message.id, "fire": fire, "owner": ANA}
    one.bus.publish(NOTIFY, handover)  # the bus delivers it again
    one.worker.drain([NOTIFY])
    assert len(hook.requests) == 1 and reminders.public(one.records, message.id)["state"] == "due"  # type: ignore[index]

    assert act(two, links["Snooze 1 day"]["url"]).status_code == 200  # the other process
    snoozed = reminders.get_reminder(one.records, message.id)
    assert snoozed is not None and snoozed.state == "scheduled"
    assert snoozed.due_at == one.clock.now() + timedelta(days=1)
    one.clock.advance(days=1, minutes=1)  # type: ignore[attr-defined]
    assert two.consumers.publish_due_reminders() == 1
    one.worker.drain([NOTIFY])
    assert len(hook.requests) == 2  # a new due time, a new reminder

    assert act(one, buttons(hook.json_bodies()[1])["Snooze 3 days"]["url"]).status_code == 200
    reply = ThreadMail("18c1", "t1", ("INBOX",), {"from": "bo@example.org"}, one.clock.now())
    one.replies.record(message, reply)
    assert reminders.public(one.records, message.id)["state"] == "cancelled"  # type: ignore[index]
    one.clock.advance(days=4)  # type: ignore[attr-defined]
    assert one.consumers.publish_due_reminders() + two.consumers.publish_due_reminders() == 0
    one.worker.drain([NOTIFY])
    assert len(hook.requests) == 3  # the reply's alert, no reminder
    assert "replied to" in hook.json_bodies()[2]["text"]


def test_quiet_hours_hold_a_reminder_for_the_morning(make_rig, hook: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    rig: Rig = make_rig()
    hour = START.hour
    rig.app.settings.update(
        ANA,
        SettingsChange(
            slack_webhook=hook.url + "/services/T/B/x", quiet_hours=f"{hour}-{hour + 2}"
        ),
    )
    tracked = rig.track()
    reminders.set_reminder(rig.app.records, tracked.message, START, START)
    rig.clock.advance(minutes=5)
    assert rig.app.consumers.publish_due_reminders() == 1
    rig.settle()
    held = reminders.get_reminder(rig.app.records, tracked.message.id)
    assert hook.requests == [] and held is not None
    assert held.fire_at == START + timedelta(hours=2) and held.due_at == START
    rig.clock.advance(hours=2)
    assert rig.app.consumers.publish_due_reminders() == 1
    rig.settle()
    assert len(hook.requests) == 1


def api(rig: Rig, method: str, path: str, body: Any = None, user: str = ANA) -> Any:
    from mailbeacon.access_tokens import create_token

    _, secret = create_token(rig.app.records, user, "test", rig.clock.now())
    return rig.web.open(
        path, method=method, json=body, headers={"Authorization": f"Bearer {secret}"}
    )


def test_the_api_the_cli_and_the_link_page(make_rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rig: Rig = make_rig()
    tracked = rig.track(sent_at=START)
    path = f"/api/v1/messages/{tracked.message.id}"
    made = api(rig, "POST", path + "/reminder", {"days": 2})
    assert made.status_code == 200
    due = f"{START + timedelta(days=2):%Y-%m-%dT%H:%M:%S}.000Z"
    assert made.get_json() == {
        "message_id": tracked.message.id, "due_at": due, "state": "scheduled",
        "reminder": {"due_at": due, "state": "scheduled"},
    }  # fmt: skip
    assert api(rig, "GET", path).get_json()["reminder"] == {"due_at": due, "state": "scheduled"}
    assert api(rig, "GET", path).get_json()["replies"]["human"] == 0
    assert (
        api(rig, "POST", path + "/reminder", {"days": 2}, user="eve@example.com").status_code == 404
    )
    for bad in ({}, {"days": 0}, {"days": 2, "due_at": due}, {"due_at": "soon"}):
        assert api(rig, "POST", path + "/reminder", bad).status_code == 400
    later = api(rig, "POST", path + "/reminder", {"due_at": "2030-01-01T00:00:00Z"})
    assert later.status_code == 400  # more than a year ahead
    assert api(rig, "DELETE", path + "/reminder").status_code == 204
    assert api(rig, "GET", path).get_json()["reminder"] is None

    data = rig.app.config.core.data_dir
    shown = run_cli("remind", tracked.message.id, "--days", "3", "--json", data_dir=data)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["reminder"]["state"] == "scheduled"
    cleared = run_cli("remind", tracked.message.id, "--clear", "--json", data_dir=data)
    assert json.loads(cleared.stdout) == {"message_id": tracked.message.id, "reminder": None}
    assert run_cli("remind", "nope" * 4, "--days", "1", data_dir=data).returncode == 1

    reminders.set_reminder(rig.app.records, tracked.message, START, START)
    link = rig.app.urls.reminder_action(tracked.message.id, "done", now=START)
    page = rig.web.get(link.removeprefix("http://mb.test"))
    assert page.status_code == 200 and b'<form method="post"' in page.data
    assert reminders.public(rig.app.records, tracked.message.id)["state"] == "scheduled"  # type: ignore[index]
    token = re.search(r"t=([A-Za-z0-9_-]+)", link).group(1)  # type: ignore[union-attr]
    assert rig.web.post("/reminders/act", data={"t": token[:-2] + "AA"}).status_code == 404
    assert rig.web.post("/reminders/act", data={"t": token}).status_code == 200
    assert reminders.public(rig.app.records, tracked.message.id)["state"] == "done"  # type: ignore[index]
    rig.clock.advance(days=15)
    assert rig.web.get(link.removeprefix("http://mb.test")).status_code == 404  # expired


def reminded_in_slack(make_rig: Any, slack: Slack) -> tuple[Rig, Any, list[dict[str, Any]]]:
    """Ana's app installed in Slack with DMs on; one email's reminder fell due and was posted
    to her DM: the rig, the tracked email and the post's blocks."""
    rig: Rig = make_rig(
        slack_client_id=slack.client_id,
        slack_client_secret=slack.client_secret,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
    )
    install(rig, slack)
    slack.users[ANA] = "U0ANA"
    rig.settings(slack_app_dm=True)
    tracked = rig.track()
    reminders.set_reminder(rig.app.records, tracked.message, START, START)
    assert rig.app.consumers.publish_due_reminders() == 1
    rig.settle()
    (post,) = slack.posts
    blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
    return rig, tracked, blocks


def test_slack_and_chat_app_buttons_act_for_the_owner_only(make_rig, slack: Slack) -> None:  # type: ignore[no-untyped-def]
    rig, tracked, blocks = reminded_in_slack(make_rig, slack)
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert ids[:3] == [
        "mailbeacon_reminder_snooze-1", "mailbeacon_reminder_snooze-3", "mailbeacon_reminder_done"
    ]  # fmt: skip

    def press(action: str, user: str) -> Any:
        hook = slack.server.url + "/actions/T0EXAMPLE/1/x"
        payload = {
            "type": "block_actions", "user": {"id": user, "team_id": "T0EXAMPLE"},
            "team": {"id": "T0EXAMPLE"}, "response_url": hook,
            "actions": [{"action_id": action, "value": tracked.message.id, "type": "button"}],
        }  # fmt: skip
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = signed(body, at=rig.clock.now().timestamp())
        answer = rig.web.post("/slack/interactivity", data=body, headers=headers)
        rig.settle()  # acknowledged at once; the button's work is done after
        return answer

    assert press("mailbeacon_reminder_done", "U0MALLORY").status_code == 200
    assert slack.responses[-1]["text"] == "That email is not one of yours."
    assert reminders.public(rig.app.records, tracked.message.id)["state"] == "due"  # type: ignore[index]
    assert press("mailbeacon_reminder_snooze-3", "U0ANA").status_code == 200
    assert slack.responses[-1]["replace_original"] is True
    assert "snoozed: I will remind you again" in slack.responses[-1]["text"]
    assert reminders.get_reminder(rig.app.records, tracked.message.id).due_at == (  # type: ignore[union-attr]
        rig.clock.now() + timedelta(days=3)
    )

    # the Chat app's card buttons, in both event shapes (classic and add-on built)
    classic = {
        "type": "CARD_CLICKED",
        "user": {"email": ANA, "name": "users/1"},
        "common": {"invokedFunction": "mailbeacon.reminder",
                   "parameters": {"message_id": tracked.message.id, "action": "done"}},
    }  # fmt: skip
    answer = handle_chat_event(rig.app.store, rig.app.settings, classic, rig.clock)
    assert answer["actionResponse"] == {"type": "UPDATE_MESSAGE"} and "done" in answer["text"]
    assert reminders.public(rig.app.records, tracked.message.id)["state"] == "done"  # type: ignore[index]
    addon = {
        "commonEventObject": {
            "parameters": {"message_id": tracked.message.id, "action": "snooze-1"}
        },
        "chat": {"user": {"email": "eve@example.com"}, "buttonClickedPayload": {}},
    }
    refused = handle_chat_event(rig.app.store, rig.app.settings, addon, rig.clock)
    message = refused["hostAppDataAction"]["chatDataAction"]["updateMessageAction"]["message"]
    assert message["text"] == "That email is not one of yours."


def test_the_open_in_gmail_url_button_posts_nothing_and_changes_nothing(
    make_rig: Any, slack: Slack
) -> None:
    """Slack sends a block_actions payload for a URL button too (docs.slack.dev, "Button
    element"); the reminder's Open in Gmail asks for no work, so it is acknowledged, nothing is
    queued, no "Nothing to do." reaches the user and the reminder stays as it was."""
    rig, tracked, blocks = reminded_in_slack(make_rig, slack)
    (gmail,) = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Open in Gmail"
    ]
    before = reminders.get_reminder(rig.app.records, tracked.message.id)
    payload = {
        "type": "block_actions", "user": {"id": "U0ANA", "team_id": "T0EXAMPLE"},
        "team": {"id": "T0EXAMPLE"}, "response_url": slack.server.url + "/actions/T0EXAMPLE/1/g",
        "actions": [{"action_id": gmail["action_id"], "url": gmail["url"], "type": "button"}],
    }  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = signed(body, at=rig.clock.now().timestamp())
    answer = rig.web.post("/slack/interactivity", data=body, headers=headers)
    assert answer.status_code == 200 and answer.data == b""
    assert rig.settle() == 0 and slack.responses == [] and len(slack.posts) == 1
    assert reminders.get_reminder(rig.app.records, tracked.message.id) == before

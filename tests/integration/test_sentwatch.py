"""The sent-mail watch and Gmail labels against a loopback Gmail that speaks the API's JSON
(functions/standins/gmail.py cites the reference for each shape): the real adapter
(google-api-python-client from its shipped discovery document, delegated service-account
tokens), the SQLite store, the pixel through the web app and the local bus's handlers."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.cli import main as cli
from functions.config import load_config
from functions.standins.gmail import Gmail
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.model import Verdict
from mailbeacon.sentwatch import (
    handle_push,
    label_first_human,
    mark_unsent,
    renew_watches,
    sent_status,
    set_label_opt_in,
    watched_users,
)
from mailbeacon.tracking import TrackedMessage, track_message
from tests.support.processes import TEST_DEFAULTS

from .conftest import START

ANN = "ann@acme.test"
TOPIC = "projects/mb-test/topics/gmail-sent"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.0"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def environment(gmail: Gmail, tmp_path: Path) -> dict[str, str]:
    return {
        **TEST_DEFAULTS,
        "MAILBEACON_GMAIL_CREDENTIALS": str(gmail.key_file(tmp_path)),
        "MAILBEACON_GMAIL_API_URL": gmail.url,
        "MAILBEACON_GMAIL_WATCH_TOPIC": TOPIC,
        "MAILBEACON_GMAIL_LABELS": "on",
    }


@pytest.fixture
def app(gmail: Gmail, tmp_path: Path) -> Iterator[App]:
    config = load_config(
        environment(gmail, tmp_path), data_dir=tmp_path / "data", public_url="http://mb.test"
    )
    app = bootstrap(config, clock=FixedClock(START))
    yield app
    app.close()


def track(app: App, to: tuple[str, ...] = ("bo@example.org",)) -> TrackedMessage:
    """What the add-on does: a draft registered with the recipients known so far, no send time."""
    return track_message(
        app.store, app.urls, app.clock, sender=ANN, recipients=to, records=app.records
    )


def send(gmail: Gmail, tracked: TrackedMessage, at: Any, **headers: str) -> str:
    html = f"<div>Proposal attached.</div>{tracked.to_public()['html']}"
    return gmail.send(ANN, html=html, at=at, rfc_id="<CAF=x1@mail.gmail.com>", **headers)


def push(app: App, gmail: Gmail) -> list[str]:
    data = {"emailAddress": ANN, "historyId": str(gmail.box(ANN).history_id)}
    assert app.mailbox is not None
    return handle_push(app.mailbox, app.store, app.records, app.signer, data)


def hit(app: App, url: str, user_agent: str) -> None:
    web = create_app(app).test_client()
    assert web.get(url.split("mb.test", 1)[1], headers={"User-Agent": user_agent}).status_code in (
        200,
        302,
    )
    assert app.worker is not None
    app.worker.drain([HITS, NOTIFY])


def test_the_servers_daily_renewal_watches_every_sender(app: App, gmail: Gmail) -> None:
    from functions.jobs import WatchRenewal

    track(app)
    (renewal,) = [b for b in app.background if isinstance(b, WatchRenewal)]
    assert renewal.run_once() == 1
    assert [w["topicName"] for w in gmail.box(ANN).watches] == [TOPIC]


def test_a_sent_message_records_the_real_time_message_id_and_final_recipients(
    app: App, gmail: Gmail
) -> None:
    tracked = track(app)
    assert app.mailbox is not None
    assert renew_watches(app.mailbox, app.records, watched_users(app.records), TOPIC, START) == 1
    (watch,) = gmail.box(ANN).watches
    assert watch == {"topicName": TOPIC}  # every label: replies are not in SENT

    sent_at = START + timedelta(hours=1)
    send(gmail, tracked, sent_at, to="Bo <BO@example.org>, cy@example.org", cc="Dee <dee@x.net>")
    assert push(app, gmail) == [tracked.message.id]
    message = app.store.get_message(tracked.message.id)
    assert message is not None
    assert message.sent_at == sent_at
    assert message.recipients == ("bo@example.org", "cy@example.org", "dee@x.net")
    status = sent_status(app.records, tracked.message.id)
    assert status is not None and status["rfc_message_id"] == "<CAF=x1@mail.gmail.com>"
    assert status["sent"] is True and status["to"] == ["bo@example.org", "cy@example.org"]
    assert push(app, gmail) == []  # the same notification again: nothing new since


def test_the_timing_rules_count_from_the_real_send_time(app: App, gmail: Gmail) -> None:
    tracked = track(app)
    assert app.mailbox is not None
    renew_watches(app.mailbox, app.records, [ANN], TOPIC, START)
    sent_at = START + timedelta(hours=1)
    send(gmail, tracked, sent_at, to="bo@example.org")
    push(app, gmail)
    app.clock.at = sent_at + timedelta(seconds=3)  # Gmail rendering the sender's sent copy
    hit(app, tracked.pixel_url, GMAIL_PROXY)
    (event,) = app.store.list_events(tracked.message.id)
    # Counted from the draft's creation this would be an open an hour later: a human.
    assert event.verdict is Verdict.SELF and "proxy-at-send" in event.reasons


def test_an_expired_history_id_falls_back_to_a_bounded_resync(app: App, gmail: Gmail) -> None:
    tracked = track(app)
    assert app.mailbox is not None
    renew_watches(app.mailbox, app.records, [ANN], TOPIC, START)
    for _ in range(3):  # other mail, older than ours
        gmail.send(ANN, html="<p>no pixel</p>", to="z@x.org", at=START, rfc_id="<o@x>")
    send(gmail, tracked, START + timedelta(minutes=5), to="bo@example.org")
    gmail.forget_history_before(ANN, gmail.box(ANN).history_id)  # the stored id is too old
    assert push(app, gmail) == [tracked.message.id]
    calls = [path for _, _, path in gmail.calls]
    assert "/gmail/v1/users/me/history" in calls and "/gmail/v1/users/me/messages" in calls
    stored = app.records.get_record("gmail-watch", ANN)
    assert stored is not None and stored["history_id"] == str(gmail.box(ANN).history_id)


def test_drafts_never_sent_are_marked_and_a_late_send_clears_the_mark(
    app: App, gmail: Gmail
) -> None:
    never, late = track(app), track(app)
    now = START + timedelta(days=4)
    assert sorted(mark_unsent(app.store, app.records, [ANN], now)) == sorted(
        [never.message.id, late.message.id]
    )
    assert sent_status(app.records, never.message.id) == {"sent": False}
    assert app.mailbox is not None
    renew_watches(app.mailbox, app.records, [ANN], TOPIC, now)
    send(gmail, late, now, to="bo@example.org")
    push(app, gmail)
    assert sent_status(app.records, late.message.id)["sent"] is True  # type: ignore[index]
    assert mark_unsent(app.store, app.records, [ANN], now) == []  # marked once


def test_labels_come_with_the_first_human_open_and_click_once_and_never_for_machines(
    app: App, gmail: Gmail
) -> None:
    tracked = track_message(
        app.store, app.urls, app.clock, sender=ANN, recipients=["bo@example.org"],
        links=["https://example.com/offer"], records=app.records,
    )  # fmt: skip
    assert app.mailbox is not None
    renew_watches(app.mailbox, app.records, [ANN], TOPIC, START)
    gmail_id = send(gmail, tracked, START, to="bo@example.org")
    push(app, gmail)
    app.clock.advance(hours=2)
    hit(app, tracked.pixel_url, BROWSER)
    assert gmail.box(ANN).labels == {}  # the user has not opted in: no label, no call

    set_label_opt_in(app.records, ANN, True, app.clock.now())
    hit(app, tracked.pixel_url, "python-requests/2.32")  # a machine: no label
    assert gmail.box(ANN).labels == {}
    (machine,) = [e for e in app.store.list_events(tracked.message.id) if not e.is_human]
    assert label_first_human(app.mailbox, app.store, app.records, machine, app.clock.now()) is None
    assert gmail.box(ANN).labels == {}  # even if a machine event reached it directly
    hit(app, tracked.pixel_url, BROWSER)
    hit(app, tracked.pixel_url, BROWSER)
    labels = gmail.box(ANN).labels
    assert list(labels.values()) == ["Mailbeacon/Opened"]
    assert gmail.box(ANN).messages[gmail_id]["labelIds"] == ["SENT", *labels]
    hit(app, tracked.links[0][1], BROWSER)
    names = {labels[i] for i in gmail.box(ANN).messages[gmail_id]["labelIds"] if i in labels}
    assert names == {"Mailbeacon/Opened", "Mailbeacon/Clicked"}
    modifies = [c for c in gmail.calls if c[2].endswith("/modify")]
    assert len(modifies) == 2  # once per label, however many opens


def test_the_cli_renews_handles_a_push_and_shows_the_send_in_stats(
    gmail: Gmail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for name, value in environment(gmail, tmp_path).items():
        monkeypatch.setenv(name, value)
    data = str(tmp_path / "cli")
    assert cli(["track", "--data-dir", data, "--sender", ANN, "--to", "bo@example.org",
                "--public-url", "http://mb.test", "--json"]) == 0  # fmt: skip
    made = json.loads(capsys.readouterr().out)
    assert cli(["gmail-watch", "renew", "--data-dir", data, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"renewed": 1, "users": 1, "unsent": []}
    gmail.send(ANN, html=made["html"], to="bo@example.org, cy@example.org",
               at=START, rfc_id="<id-1@mail.gmail.com>")  # fmt: skip
    note = json.dumps({"emailAddress": ANN, "historyId": str(gmail.box(ANN).history_id)})
    assert cli(["gmail-watch", "push", "--data-dir", data, "--data", note, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"matched": [made["message_id"]]}
    assert cli(["stats", made["message_id"], "--data-dir", data, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["gmail"]["rfc_message_id"] == "<id-1@mail.gmail.com>"
    assert stats["recipients"] == ["bo@example.org", "cy@example.org"]
    assert cli(["gmail-watch", "push", "--data-dir", data, "--data", "nope"]) == 2
    assert "must be the notification JSON" in capsys.readouterr().err


PUSHER = "gmail-push@mb-test.iam.gserviceaccount.com"


def test_pubsub_pushes_to_gmail_push_are_verified_then_recorded(
    gmail: Gmail, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from functions.standins.google_tokens import TokenIssuer

    issuer = TokenIssuer()
    try:
        env = {
            **environment(gmail, tmp_path),
            "MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT": PUSHER,
            "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
        }
        config = load_config(env, data_dir=tmp_path / "push", public_url="http://mb.test")
        app = bootstrap(config, clock=FixedClock(START))
        try:
            tracked = track(app)
            assert app.mailbox is not None
            renew_watches(app.mailbox, app.records, [ANN], TOPIC, START)
            send(gmail, tracked, START + timedelta(minutes=2), to="bo@example.org, cy@x.org")
            note = {"emailAddress": ANN, "historyId": gmail.box(ANN).history_id}
            envelope = {
                "message": {
                    "data": base64.b64encode(json.dumps(note).encode()).decode(),
                    "messageId": "2070443601311540",
                    "publishTime": "2026-11-02T09:02:00.000Z",
                },
                "subscription": "projects/mb-test/subscriptions/mailbeacon-gmail-sent",
            }
            web = create_app(app).test_client()

            def post(token: str | None, body: Any = envelope) -> Any:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return web.post("/gmail/push", json=body, headers=headers)

            aud = "http://mb.test/gmail/push"
            assert post(None).status_code == 401
            assert post(issuer.token(audience=aud, email="eve@evil.test")).status_code == 401
            assert post(issuer.token(audience="http://x/", email=PUSHER)).status_code == 401
            assert app.store.get_message(tracked.message.id).sent_at is None  # type: ignore[union-attr]
            good = issuer.token(audience=aud, email=PUSHER)
            # Malformed: acknowledged (a 4xx would be redelivered for days), and logged.
            with caplog.at_level(logging.WARNING, logger="functions.gmail_routes"):
                ignored = post(good, {"message": {"data": "not base64!"}})
            assert ignored.status_code == 200 and "ignored" in ignored.get_json()
            assert "not a Gmail notification" in caplog.text
            answer = post(good)
            assert answer.status_code == 200 and answer.get_json() == {"matched": 1}
            message = app.store.get_message(tracked.message.id)
            assert message is not None and message.recipients == ("bo@example.org", "cy@x.org")
        finally:
            app.close()
    finally:
        issuer.stop()


def test_users_opt_in_to_labels_themselves_on_the_dashboard(gmail: Gmail, tmp_path: Path) -> None:
    import re

    config = load_config(
        environment(gmail, tmp_path),
        data_dir=tmp_path / "dash",
        public_url="http://mb.test",
        insecure_dev_auth=True,
    )
    app = bootstrap(config, clock=FixedClock(START))
    try:
        web = create_app(app).test_client()
        page = web.get("/dashboard/signin").get_data(as_text=True)
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        web.post("/dashboard/signin/dev", data={"email": ANN, "csrf": token})
        settings = web.get("/dashboard/settings").get_data(as_text=True)
        assert 'id="gmail-labels-on"' in settings and "checked> Label" not in settings
        csrf = re.search(r'name="csrf" value="([^"]+)"', settings).group(1)  # type: ignore[union-attr]
        forged = web.post("/dashboard/settings/gmail-labels", data={"labels": "on", "csrf": "x"})
        assert (
            forged.status_code == 403 and app.records.get_record("gmail-label-opt-in", ANN) is None
        )
        saved = web.post("/dashboard/settings/gmail-labels", data={"labels": "on", "csrf": csrf})
        assert saved.status_code == 303
        assert app.records.get_record("gmail-label-opt-in", ANN) is not None
        assert "checked> Label" in web.get("/dashboard/settings").get_data(as_text=True)
        web.post("/dashboard/settings/gmail-labels", data={"csrf": csrf})  # unchecked: off
        assert app.records.get_record("gmail-label-opt-in", ANN) is None
    finally:
        app.close()


def test_the_daily_renewal_route_needs_schedulers_token_for_its_own_url(
    gmail: Gmail, tmp_path: Path
) -> None:
    """In the cloud Cloud Scheduler calls POST /gmail/renew with an OIDC token of the
    functions' account; a push token (another audience) or anyone else's token is refused."""
    from functions.standins.google_tokens import TokenIssuer

    issuer = TokenIssuer()
    try:
        env = {
            **environment(gmail, tmp_path),
            "MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT": PUSHER,
            "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
        }
        config = load_config(env, data_dir=tmp_path / "renew", public_url="http://mb.test")
        app = bootstrap(config, clock=FixedClock(START))
        try:
            track(app)
            web = create_app(app).test_client()

            def renew(token: str | None) -> Any:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return web.post("/gmail/renew", headers=headers)

            assert renew(None).status_code == 401
            assert (
                renew(
                    issuer.token(audience="http://mb.test/gmail/renew", email="eve@x.test")
                ).status_code
                == 401
            )
            assert (
                renew(issuer.token(audience="http://mb.test/gmail/push", email=PUSHER)).status_code
                == 401
            )
            assert gmail.box(ANN).watches == []  # nothing refused reached Gmail
            answer = renew(issuer.token(audience="http://mb.test/gmail/renew", email=PUSHER))
            assert answer.status_code == 200 and answer.get_json() == {"renewed": 1}
            [watch] = gmail.box(ANN).watches
            assert watch["topicName"] == TOPIC
        finally:
            app.close()
    finally:
        issuer.stop()

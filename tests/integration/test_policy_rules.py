"""Each domain-policy rule taking effect through the running app: /api/v1, the pixel and the
notifier (a loopback Slack webhook), retention, the admins' overview and the dashboard's domain
page. The policy is changed with the same use case the CLI and the dashboard call."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import load_config
from functions.jobs import RetentionSweep
from functions.standins.webhooks import WebhookReceiver
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.policy import PolicyChange, enforce_retention, get_policy, update_policy
from mailbeacon.privacy import export_user
from mailbeacon.stats import get_stats
from tests.support.processes import TEST_DEFAULTS

from .conftest import START

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
ANN = {"Authorization": "Bearer dev:ann@acme.test"}
BEN = {"Authorization": "Bearer dev:ben@acme.test"}
BOSS = {"Authorization": "Bearer dev:boss@acme.test"}


class Site:
    def __init__(self, app: App, clock: FixedClock) -> None:
        self.app, self.clock = app, clock
        self.web: FlaskClient = create_app(app).test_client()

    def policy(self, **change: Any) -> None:
        update_policy(
            self.app.records,
            "acme.test",
            PolicyChange(**change),
            actor="boss@acme.test",
            at=self.clock.now(),
        )

    def track(self, who: dict[str, str] = ANN, **body: Any) -> Any:
        body.setdefault("to", ["bo@example.org"])
        return self.web.post("/api/v1/messages", json=body, headers=who)

    def open(self, pixel_url: str) -> None:
        """A person opens the email ten minutes on (sooner would look like a machine)."""
        self.clock.advance(minutes=10)
        path = pixel_url.split("mb.test", 1)[1]
        assert self.web.get(path, headers={"User-Agent": CHROME}).status_code == 200
        assert self.app.worker is not None
        self.app.worker.drain([HITS, NOTIFY])


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    clock = FixedClock(START)
    env = {**TEST_DEFAULTS, "MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
    config = load_config(
        env, data_dir=tmp_path / "data", public_url="http://mb.test", insecure_dev_auth=True
    )
    app = bootstrap(config, clock=clock)
    yield Site(app, clock)
    app.close()


def test_tracking_off_is_a_400_with_one_line_and_stores_nothing(site: Site) -> None:
    site.policy(tracking=False)
    answer = site.track()
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "tracking is turned off for acme.test by its admins"}
    assert site.web.get("/api/v1/messages", headers=ANN).get_json()["messages"] == []
    other = site.track({"Authorization": "Bearer dev:zed@other.test"})
    assert other.status_code == 201  # another domain's policy is its own


def test_track_internal_off_refuses_colleagues_only_but_tracks_mixed_recipients(
    site: Site,
) -> None:
    site.policy(track_internal=False)
    inside = site.track(to=["ben@acme.test", "cy@ACME.test"])
    assert inside.status_code == 400 and "every recipient is inside" in inside.get_json()["error"]
    mixed = site.track(to=["ben@acme.test", "bo@example.org"])
    assert mixed.status_code == 201


def test_the_api_html_carries_the_disclosure_before_the_pixel(site: Site) -> None:
    site.policy(disclosure="Acme counts opens of this email & its links.")
    made = site.track().get_json()
    html = made["html"]
    assert html.index("Acme counts opens of this email &amp; its links.") < html.index(
        made["pixel_url"]
    )
    site.policy(disclosure=None)
    assert "Acme counts" not in site.track().get_json()["html"]


def test_a_channel_the_policy_removes_stops_delivering_and_shows_a_problem(
    site: Site, hook: WebhookReceiver
) -> None:
    store = site.app.store
    from dataclasses import replace

    store.put_settings(
        replace(store.get_settings("ann@acme.test"), slack_webhook=f"{hook.url}/services/T/B/s")
    )
    site.policy(channels=["chat", "email"])
    site.open(site.track().get_json()["pixel_url"])
    assert hook.requests == []
    (problem,) = store.get_settings("ann@acme.test").problems
    assert "slack-webhook: alerts by slack are off under your domain policy" in problem
    assert store.get_settings("ann@acme.test").slack_webhook  # kept, in case it comes back

    site.policy(channels=["slack", "chat", "email"])
    site.open(site.track().get_json()["pixel_url"])
    assert len(hook.requests) == 1


def test_retention_days_remove_older_events_from_stats_the_api_and_exports(site: Site) -> None:
    made = site.track().get_json()
    site.clock.advance(days=-40)
    site.open(made["pixel_url"])  # an open 40 days ago, kept 180 days by the server
    site.clock.advance(days=40)
    site.open(made["pixel_url"])
    message_id = made["message_id"]
    assert len(get_stats(site.app.store, message_id)["events"]) == 2

    site.policy(retention_days=30)
    assert (
        RetentionSweep(site.app.store, site.app.records, site.clock).sweep() == 1
    )  # the hourly sweep
    assert len(get_stats(site.app.store, message_id)["events"]) == 1
    api = site.web.get(f"/api/v1/messages/{message_id}", headers=ANN).get_json()
    assert [e["at"][:10] for e in api["events"]] == [START.date().isoformat()]
    (exported,) = export_user(site.app.store, "ann@acme.test")["messages"]
    assert len(exported["events"]) == 1
    # New events carry the policy's expiry (Firestore's TTL field), not the server's 180 days.
    site.open(made["pixel_url"])
    newest = site.app.store.list_events(message_id)[-1]
    assert newest.expires_at == newest.at + timedelta(days=30)


def test_shortening_retention_applies_at_once_where_the_cli_and_dashboard_change_it(
    site: Site,
) -> None:
    made = site.track().get_json()
    site.clock.advance(days=-10)
    site.open(made["pixel_url"])
    site.clock.advance(days=10)
    site.policy(retention_days=7)
    policy = get_policy(site.app.records, "acme.test")
    assert enforce_retention(site.app.store, policy, site.clock.now()) == 1
    assert get_stats(site.app.store, made["message_id"])["events"] == []


def test_admins_see_domain_totals_never_subjects_or_recipients(site: Site) -> None:
    for who, subject in ((ANN, "Ann's secret deal"), (BEN, "Ben's private plan")):
        made = site.track(who, subject=subject, to=["client@example.org"]).get_json()
        site.open(made["pixel_url"])
    site.policy(admins=["boss@acme.test"])
    refused = site.web.get("/api/v1/overview?scope=domain", headers=ANN)
    assert refused.status_code == 403 and "admins" in refused.get_json()["error"]
    answer = site.web.get("/api/v1/overview?scope=domain", headers=BOSS)
    data = answer.get_json()
    assert (data["domain"], data["senders"], data["messages"], data["opened"]) == (
        "acme.test",
        2,
        2,
        2,
    )
    text = json.dumps(data)
    for private in ("secret deal", "private plan", "client@example.org", "ann@", "ben@"):
        assert private not in text
    mine = site.web.get("/api/v1/overview", headers=BOSS).get_json()
    assert mine["messages"] == 0  # the admin's own overview stays their own


def dev_signin(web: FlaskClient, email: str) -> None:
    page = web.get("/dashboard/signin").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert (
        web.post("/dashboard/signin/dev", data={"email": email, "csrf": token}).status_code == 303
    )


def test_the_dashboard_domain_page_edits_the_policy_and_shows_the_audit_log(site: Site) -> None:
    made = site.track(subject="Ann's secret deal").get_json()
    site.open(made["pixel_url"])
    site.policy(admins=["boss@acme.test"])
    ann = create_app(site.app).test_client()
    dev_signin(ann, "ann@acme.test")
    assert ann.get("/dashboard/domain").status_code == 404
    assert "nav-domain" not in ann.get("/dashboard/overview").get_data(as_text=True)

    boss = site.web
    dev_signin(boss, "boss@acme.test")
    overview = boss.get("/dashboard/overview").get_data(as_text=True)
    assert 'id="dom-messages">1<' in overview and "secret deal" not in overview
    page = boss.get("/dashboard/domain").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {
        "csrf": token,
        "tracking": "on",
        "retention_days": "90",
        "channel_email": "on",
        "disclosure": "Tracked by Acme",
        "admins": "boss@acme.test",
    }
    saved = boss.post("/dashboard/domain", data=form)
    assert saved.status_code == 200 and 'id="domain-saved"' in saved.get_data(as_text=True)
    assert site.track(to=["ben@acme.test"]).status_code == 400  # internal tracking now off
    audit = saved.get_data(as_text=True)
    assert "boss@acme.test" in audit and "retention_days" in audit and "track_internal" in audit
    assert boss.post("/dashboard/domain", data={**form, "csrf": "forged"}).status_code == 403
    bad = boss.post("/dashboard/domain", data={**form, "retention_days": "-3"})
    assert bad.status_code == 400 and "whole number" in bad.get_data(as_text=True)


def test_the_dashboard_download_is_the_users_own_export(site: Site) -> None:
    made = site.track(subject="Ann's plan").get_json()
    site.open(made["pixel_url"])
    site.track(BEN, subject="Ben's plan")
    assert site.web.get("/dashboard/export").status_code == 303  # signed out: to the sign-in
    dev_signin(site.web, "ann@acme.test")
    answer = site.web.get("/dashboard/export")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == 'attachment; filename="mailbeacon-export.json"'
    assert answer.get_json() == export_user(site.app.store, "ann@acme.test")
    assert [m["subject"] for m in answer.get_json()["messages"]] == ["Ann's plan"]
    assert len(answer.get_json()["messages"][0]["events"]) == 1

"""The Slack app: OAuth v2 install round trip, DM alerts found by email, the mute button."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from functions.standins.slack import Slack
from mailbeacon.bus import NOTIFY

from .conftest import Rig

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def rig(make_rig, slack: Slack) -> Rig:  # type: ignore[no-untyped-def]
    return make_rig(
        slack_client_id=slack.client_id,
        slack_client_secret=slack.client_secret,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
    )


def install(rig: Rig, slack: Slack, team: str = "T0EXAMPLE") -> None:
    start = rig.web.get("/slack/install")
    assert start.status_code == 302
    authorize = urlsplit(start.headers["Location"])
    query = parse_qs(authorize.query)
    assert authorize.netloc == "slack.com" and authorize.path == "/oauth/v2/authorize"
    assert query["client_id"] == [slack.client_id]
    assert "users:read.email" in query["scope"][0].split(",")
    assert query["redirect_uri"] == ["http://mb.test/slack/oauth/callback"]
    slack.codes["code-1"] = team
    done = rig.web.get(
        f"/slack/oauth/callback?{urlencode({'code': 'code-1', 'state': query['state'][0]})}"
    )
    assert done.status_code == 200, done.data
    assert b"Example Team" in done.data


def test_install_round_trip_then_alerts_reach_the_senders_dm(rig: Rig, slack: Slack) -> None:
    install(rig, slack)
    [exchange] = slack.calls("oauth.v2.access")
    assert parse_qs(exchange["body"].decode())["code"] == ["code-1"]
    slack.users["ana@example.com"] = "U0ANA"
    rig.settings(slack_app_dm=True)
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert [c["headers"]["Authorization"] for c in slack.calls("chat.postMessage")] == [
        "Bearer xoxb-T0EXAMPLE-bot"
    ]
    [post] = slack.posts
    assert post["channel"] == "D0ANA"
    assert "Quarterly plan" in post["text"]
    blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
    mute = blocks[-1]["elements"][-1]
    assert mute["action_id"] == "mailbeacon_mute" and mute["value"] == tracked.message.id
    # the DM is remembered: a second alert costs one chat.postMessage
    second = rig.track("Second")
    rig.open(second)
    rig.settle()
    assert len(slack.calls("users.lookupByEmail")) == 1 and len(slack.posts) == 2


def test_a_callback_with_a_forged_state_is_refused_and_installs_nothing(
    rig: Rig, slack: Slack
) -> None:
    slack.codes["code-1"] = "T0EXAMPLE"
    response = rig.web.get("/slack/oauth/callback?code=code-1&state=made-up")
    assert response.status_code == 401
    assert slack.calls("oauth.v2.access") == []
    assert rig.app.store.list_records("slack-installation") == []


def test_a_state_is_single_use(rig: Rig, slack: Slack) -> None:
    state = parse_qs(urlsplit(rig.web.get("/slack/install").headers["Location"]).query)["state"][0]
    slack.codes["c1"] = slack.codes["c2"] = "T0EXAMPLE"
    assert rig.web.get(f"/slack/oauth/callback?code=c1&state={state}").status_code == 200
    assert rig.web.get(f"/slack/oauth/callback?code=c2&state={state}").status_code == 401


def test_a_user_slack_does_not_know_is_recorded_and_not_retried(rig: Rig, slack: Slack) -> None:
    install(rig, slack)
    rig.settings(slack_app_dm=True)
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert slack.posts == [] and len(slack.calls("users.lookupByEmail")) == 1
    [problem] = rig.problems()
    assert "slack-app: users_not_found" in problem
    assert rig.app.bus.pending(NOTIFY) == 0


def test_revoked_token_is_a_permanent_problem(rig: Rig, slack: Slack) -> None:
    install(rig, slack)
    slack.users["ana@example.com"] = "U0ANA"
    slack.tokens.clear()  # the workspace uninstalled the app: invalid_auth from now on
    rig.settings(slack_app_dm=True)
    rig.open(rig.track())
    rig.settle()
    assert any("invalid_auth" in p for p in rig.problems())
    assert rig.app.bus.pending(NOTIFY) == 0


def test_429_from_the_web_api_is_retried_after_retry_after(rig: Rig, slack: Slack) -> None:
    install(rig, slack)
    slack.users["ana@example.com"] = "U0ANA"
    slack.fail("chat.postMessage", "ratelimited", status=429, Retry_After="1")
    rig.settings(slack_app_dm=True)
    rig.open(rig.track())
    rig.settle()
    assert len(slack.calls("chat.postMessage")) == 2 and len(slack.posts) == 1
    assert rig.sleeps == [1.0] and rig.problems() == ()


def signed(body: bytes, *, at: float, secret: str = SIGNING_SECRET) -> dict[str, str]:
    base = f"v0:{int(at)}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(int(at)),
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def mute_body(
    message_id: str, user: str = "U0ANA", team: str = "T0EXAMPLE", response_url: str = ""
) -> bytes:
    # The shape of Slack's block_actions payload (docs.slack.dev, "block_actions payload":
    # type, user{id, team_id}, team{id}, actions[{action_id, value, type}], response_url
    # such as https://hooks.slack.com/actions/T0MJR11A4/123456789/abcdefgh).
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": team},
        "team": {"id": team},
        "actions": [{"action_id": "mailbeacon_mute", "value": message_id, "type": "button"}],
    }
    if response_url:
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture
def delivered(rig: Rig, slack: Slack) -> str:
    install(rig, slack)
    slack.users["ana@example.com"] = "U0ANA"
    rig.settings(slack_app_dm=True)
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert len(slack.posts) == 1
    return tracked.message.id


def test_the_mute_button_mutes_that_email_and_confirms_through_response_url(
    rig: Rig, delivered: str, slack: Slack
) -> None:
    hook = slack.server.url + "/actions/T0EXAMPLE/123456789/abcdefgh"
    body = mute_body(delivered, response_url=hook)
    now = rig.clock.now().timestamp()
    response = rig.web.post("/slack/interactivity", data=body, headers=signed(body, at=now))
    # Acknowledged at once with an empty 200, before anything is read or posted: Slack waits
    # 3 seconds; the mute and its confirmation are the notifier consumer's work.
    assert response.status_code == 200 and response.data == b""
    assert slack.responses == [] and rig.app.store.get_settings("ana@example.com").muted == ()
    rig.settle()
    [confirmation] = slack.responses
    assert confirmation["path"] == "/actions/T0EXAMPLE/123456789/abcdefgh"
    assert confirmation["response_type"] == "ephemeral"
    assert confirmation["replace_original"] is False
    assert confirmation["text"].startswith("Muted")
    assert rig.app.store.get_settings("ana@example.com").muted == (delivered,)


def test_a_response_url_off_slack_is_never_called(rig: Rig, delivered: str, slack: Slack) -> None:
    body = mute_body(delivered, response_url="https://attacker.example/actions/x")
    now = rig.clock.now().timestamp()
    response = rig.web.post("/slack/interactivity", data=body, headers=signed(body, at=now))
    rig.settle()
    assert response.status_code == 200 and slack.responses == []
    assert rig.app.store.get_settings("ana@example.com").muted == (delivered,)


@pytest.mark.parametrize(
    "headers",
    [
        lambda body, now: signed(body, at=now, secret="not-the-secret"),
        lambda body, now: signed(body, at=now - 301),  # stale: replayed after five minutes
        lambda body, now: {"Content-Type": "application/x-www-form-urlencoded"},
    ],
    ids=["bad-signature", "stale", "unsigned"],
)
def test_unverified_interactivity_is_refused_and_changes_nothing(
    rig: Rig, delivered: str, headers
) -> None:  # type: ignore[no-untyped-def]
    body = mute_body(delivered)
    now = rig.clock.now().timestamp()
    response = rig.web.post("/slack/interactivity", data=body, headers=headers(body, now))
    assert response.status_code == 401
    assert rig.app.store.get_settings("ana@example.com").muted == ()


def test_someone_else_cannot_mute_your_email(rig: Rig, delivered: str) -> None:
    body = mute_body(delivered, user="U0MALLORY")
    response = rig.web.post(
        "/slack/interactivity", data=body, headers=signed(body, at=rig.clock.now().timestamp())
    )
    rig.settle()
    assert response.status_code == 200
    assert rig.app.store.get_settings("ana@example.com").muted == ()


def test_freshness_is_judged_by_the_injected_clock(rig: Rig, delivered: str) -> None:
    from datetime import UTC, datetime

    body = mute_body(delivered)
    signed_at = time.time()
    rig.clock.at = datetime.fromtimestamp(signed_at + 3600, UTC)  # an hour after signing
    late = rig.web.post("/slack/interactivity", data=body, headers=signed(body, at=signed_at))
    assert late.status_code == 401
    rig.clock.at = datetime.fromtimestamp(signed_at + 10, UTC)
    fresh = rig.web.post("/slack/interactivity", data=body, headers=signed(body, at=signed_at))
    assert fresh.status_code == 200


def test_an_open_dashboard_url_button_is_acknowledged_and_nothing_is_posted(
    rig: Rig, delivered: str, slack: Slack
) -> None:
    """A button with a ``url`` still sends a block_actions payload, which must be
    acknowledged (docs.slack.dev, "Button element"); it asks for no work, so nothing is
    queued and no "Nothing to do." reaches the user."""
    hook = slack.server.url + "/actions/T0EXAMPLE/1/open"
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ANA", "team_id": "T0EXAMPLE"},
        "team": {"id": "T0EXAMPLE"},
        "response_url": hook,
        "actions": [
            {"action_id": "mailbeacon_dashboard", "type": "button", "url": "https://mb.test/d"}
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    now = rig.clock.now().timestamp()
    response = rig.web.post("/slack/interactivity", data=body, headers=signed(body, at=now))
    assert response.status_code == 200 and response.data == b""
    assert rig.settle() == 0 and slack.responses == []


def test_events_api_url_check_and_uninstall(rig: Rig, delivered: str, slack: Slack) -> None:
    now = rig.clock.now().timestamp()
    check = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
    answer = rig.web.post("/slack/events", data=check, headers=signed(check, at=now))
    assert answer.status_code == 200 and answer.get_json() == {"challenge": "c-123"}
    uninstall = json.dumps(
        {"type": "event_callback", "team_id": "T0EXAMPLE", "event": {"type": "app_uninstalled"}}
    ).encode()
    forged = rig.web.post(
        "/slack/events", data=uninstall, headers=signed(uninstall, at=now, secret="x")
    )
    assert forged.status_code == 401
    assert rig.app.store.list_records("slack-installation") != []
    done = rig.web.post("/slack/events", data=uninstall, headers=signed(uninstall, at=now))
    assert done.status_code == 200
    assert rig.app.store.list_records("slack-installation") == []
    rig.open(rig.track("After uninstall"))
    rig.settle()
    assert len(slack.posts) == 1  # nothing more was posted
    assert any("the Slack app is not installed" in p for p in rig.problems())


def test_an_enterprise_grid_org_install_gets_dms(rig: Rig, slack: Slack) -> None:
    """An org-wide install is saved under the enterprise with no team, and found again for
    each user with ``is_enterprise_install`` (slack_sdk's InstallationStore contract)."""
    install_start = rig.web.get("/slack/install")
    state = parse_qs(urlsplit(install_start.headers["Location"]).query)["state"][0]
    slack.codes["org-code"] = "E0ACMEGRID"
    done = rig.web.get(f"/slack/oauth/callback?code=org-code&state={state}")
    assert done.status_code == 200 and b"installed" in done.data
    [saved] = rig.app.store.list_records("slack-installation")
    assert saved[0] == "E0ACMEGRID-none" and saved[1]["is_enterprise_install"] is True
    slack.users["ana@example.com"] = "W0ANA"
    rig.settings(slack_app_dm=True)
    rig.open(rig.track())
    rig.settle()
    assert rig.problems() == ()
    [post] = slack.posts
    assert post["channel"] == "D0ANA"
    assert [c["headers"]["Authorization"] for c in slack.calls("chat.postMessage")] == [
        "Bearer xoxb-E0ACMEGRID-bot"
    ]
    dm = rig.app.store.get_record("slack-dm", "ana@example.com")
    assert dm is not None and dm["enterprise_id"] == "E0ACMEGRID" and dm["team_id"] == "T0GRIDWS"
    # A later alert finds the org's token again from the remembered DM.
    rig.open(rig.track("Second"))
    rig.settle()
    assert len(slack.posts) == 2 and rig.problems() == ()

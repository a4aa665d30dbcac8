"""No alert for what is about to be recognised as a machine: an alert waits a settle window
after its hit, so a scanner walking an email's links is known as one before anyone is told; an
alert already sent for a hit relabelled afterwards is corrected in place (Slack's chat.update,
Chat's spaces.messages.patch) and the hit is never counted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.standins.google_chat import Chat
from functions.standins.slack import Slack
from mailbeacon.records import Namespace
from mailbeacon.tracking import TrackedMessage

from .conftest import Rig

LINKS = ["https://example.com/a", "https://example.com/b", "https://example.com/c"]
SCANNER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"  # noqa: E501


@pytest.fixture
def chat() -> Iterator[Chat]:
    fake = Chat()
    yield fake
    fake.stop()


def wired(make_rig, slack: Slack, chat: Chat, settle: str) -> Rig:  # type: ignore[no-untyped-def]
    """Alerts to the Slack app's DM and the Chat app's DM, both found already."""
    rig = make_rig(
        slack_client_id=slack.client_id,
        slack_client_secret=slack.client_secret,
        slack_signing_secret="s" * 32,
        slack_api_url=slack.api_url,
        chat_api_url=chat.url,
        alert_settle_seconds=settle,
    )
    start = rig.web.get("/slack/install")  # the app installed, as a workspace admin does
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    assert rig.web.get(f"/slack/oauth/callback?code=c1&state={state}").status_code == 200
    slack.users["ana@example.com"] = "U0ANA"
    records = rig.app.store
    chat.dms["users/1111"] = "spaces/DM1"
    records.put_record(Namespace.CHAT_DMS, "ana@example.com", {"space": "spaces/DM1"})
    rig.settings(slack_app_dm=True, chat_app_dm=True)
    return rig


def walk(rig: Rig, tracked: TrackedMessage, first: int = 0) -> None:
    """A scanner fetching links of the email from one address, half a second apart."""
    for index in range(first, len(LINKS)):
        assert rig.click(tracked, index, user_agent=SCANNER) == 302
        rig.clock.advance(seconds=0.5)


def later(rig: Rig, seconds: float) -> None:
    """Time passes on the test's clock; the outbox waits on the wall clock, so what it holds
    back is made due (as test_notify_coalesce_digest does)."""
    rig.clock.advance(seconds=seconds)
    with rig.app.bus.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE outbox SET available_at = 0")
    rig.settle()


def human_clicks(rig: Rig, tracked: TrackedMessage) -> int:
    summary = rig.app.store.get_summary(tracked.message.id)
    assert summary is not None
    return summary.human_clicks


def test_a_scanner_walking_the_links_is_never_announced(make_rig, slack: Slack, chat: Chat) -> None:  # type: ignore[no-untyped-def]
    rig = wired(make_rig, slack, chat, settle="30")
    tracked = rig.track("Demo recording", links=LINKS)
    assert rig.click(tracked, 0, user_agent=SCANNER) == 302
    rig.settle()  # the first click alone looks like a person: its alert waits
    assert slack.posts == [] and chat.created == []
    assert human_clicks(rig, tracked) == 1
    rig.clock.advance(seconds=0.5)
    walk(rig, tracked, first=1)
    rig.settle()  # the walk shows: the first click is relabelled where it is stored
    assert human_clicks(rig, tracked) == 0
    later(rig, 31)  # the window has passed: nothing to say
    assert slack.posts == [] and chat.created == [] and slack.updates == []
    summary = rig.app.store.get_summary(tracked.message.id)
    assert summary is not None and summary.status == "sent" and summary.machine_clicks == 3


def test_a_person_is_told_once_the_window_has_passed(make_rig, slack: Slack, chat: Chat) -> None:  # type: ignore[no-untyped-def]
    rig = wired(make_rig, slack, chat, settle="30")
    tracked = rig.track("Proposal", links=LINKS)
    assert rig.click(tracked, 1) == 302
    rig.settle()
    assert slack.posts == []
    later(rig, 31)
    [post] = slack.posts
    assert "clicked a link in “Proposal”" in post["text"] and "Chrome on Linux" in post["text"]
    assert len(chat.created) == 1


def test_an_alert_sent_before_the_walk_showed_is_corrected_and_not_counted(
    make_rig, slack: Slack, chat: Chat
) -> None:  # type: ignore[no-untyped-def]
    rig = wired(make_rig, slack, chat, settle="0")  # no window: the alert goes at once
    tracked = rig.track("Webinar invite", links=LINKS)
    assert rig.click(tracked, 0, user_agent=SCANNER) == 302
    rig.settle()
    [post] = slack.posts
    [created] = chat.created
    assert "clicked a link" in post["text"]
    rig.clock.advance(seconds=0.5)
    walk(rig, tracked, first=1)
    rig.settle()
    [update] = slack.updates
    assert (update["channel"], update["ts"]) == ("D0ANA", "1.000100")
    assert update["text"].startswith("Correction: a security scanner, not a person")
    assert "several links opened within seconds" in update["text"]
    [patch] = chat.patched
    assert patch["name"] == created["name"] and patch["updateMask"] == "text,cardsV2"
    assert chat.messages[created["name"]]["text"].startswith("Correction:")
    assert len(slack.posts) == 1 and len(chat.created) == 1  # edited, not posted again
    assert human_clicks(rig, tracked) == 0
    rig.settle()  # a redelivery corrects nothing twice
    assert len(slack.updates) == 1 and len(chat.patched) == 1
    assert rig.clock.now() - tracked.message.created_at < timedelta(days=2)

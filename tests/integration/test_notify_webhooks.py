"""Slack and Chat incoming webhooks, end to end: a recorded hit to the bytes the receiver got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.standins.webhooks import WebhookReceiver
from mailbeacon.bus import NOTIFY
from mailbeacon.model import Notify

from .conftest import START, Rig


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def rig(make_rig, hook: WebhookReceiver) -> Rig:  # type: ignore[no-untyped-def]
    rig = make_rig()
    rig.settings(slack_webhook=f"{hook.url}/services/T1/B1/secret")
    return rig


def test_a_human_open_posts_block_kit_to_the_slack_webhook(rig: Rig, hook: WebhookReceiver) -> None:
    tracked = rig.track()
    assert rig.open(tracked) == 200
    rig.settle()
    [request] = hook.requests
    assert request["path"] == "/services/T1/B1/secret"
    body = json.loads(request["body"])
    assert body["text"].startswith("bo@example.org opened “Quarterly plan”")
    fields = " ".join(f["text"] for f in body["blocks"][1]["fields"])
    assert "*Subject*\nQuarterly plan" in fields and "*To*\nbo@example.org" in fields
    assert f"{START:%b} {START.day}, 09:00 UTC" in fields and "*Client*" in fields
    button = body["blocks"][2]["elements"][0]
    assert button["url"].startswith(f"http://mb.test/dashboard/messages/{tracked.message.id}?key=")
    assert all(e.get("action_id") != "mailbeacon_mute" for e in body["blocks"][2]["elements"])


def test_machine_hits_post_nothing(rig: Rig, hook: WebhookReceiver) -> None:
    tracked = rig.track()
    rig.open(tracked, user_agent="python-requests/2.32")
    rig.open(tracked, user_agent="")
    rig.settle()
    assert rig.app.store.list_events(tracked.message.id)  # recorded, but not human
    assert hook.requests == []


def test_a_click_names_the_link(rig: Rig, hook: WebhookReceiver) -> None:
    rig.settings(notify=Notify.CLICKS)
    tracked = rig.track(links=["https://example.com/pricing?plan=pro"])
    rig.open(tracked)
    assert rig.click(tracked) == 302
    rig.settle()
    [request] = hook.requests  # clicks-only: the open said nothing
    body = json.loads(request["body"])
    assert "clicked a link" in body["text"]
    assert "https://example.com/pricing?plan=pro" in body["text"]


def test_the_same_bus_message_five_times_posts_once(rig: Rig, hook: WebhookReceiver) -> None:
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    [event] = rig.app.store.list_events(tracked.message.id)
    for _ in range(5):
        rig.app.bus.publish(NOTIFY, {"event_id": event.id, "message_id": tracked.message.id})
    assert rig.settle() == 5
    assert len(hook.requests) == 1


def test_429_then_success_posts_once_after_waiting_retry_after(
    rig: Rig, hook: WebhookReceiver
) -> None:
    hook.then(429, b"rate_limited", Retry_After="2")
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert len(hook.requests) == 2  # the refused attempt and the one that landed
    assert rig.sleeps == [2.0]
    rig.app.bus.publish(
        NOTIFY,
        {
            "event_id": rig.app.store.list_events(tracked.message.id)[0].id,
            "message_id": tracked.message.id,
        },
    )
    rig.settle()
    assert len(hook.requests) == 2
    assert rig.problems() == ()


def test_a_long_retry_after_goes_back_to_the_bus_instead_of_sleeping(
    rig: Rig, hook: WebhookReceiver
) -> None:
    hook.then(429, b"rate_limited", Retry_After="120")
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert len(hook.requests) == 1 and rig.sleeps == []
    assert rig.app.bus.pending(NOTIFY) == 1  # waiting its turn, not dead, not lost
    assert rig.app.bus.dead_letters() == [] and rig.problems() == ()


def test_server_errors_are_retried_with_backoff_then_left_on_the_bus(
    rig: Rig, hook: WebhookReceiver
) -> None:
    for _ in range(3):
        hook.then(503, b"unavailable")
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert len(hook.requests) == 3 and len(rig.sleeps) == 2  # two retries in place
    assert rig.app.bus.pending(NOTIFY) == 1 and rig.problems() == ()


def test_a_revoked_webhook_is_recorded_and_not_retried(rig: Rig, hook: WebhookReceiver) -> None:
    hook.default = (404, {}, b"no_service")
    tracked = rig.track()
    assert rig.open(tracked) == 200  # the pixel never notices
    rig.settle()
    assert len(hook.requests) == 1 and rig.sleeps == []
    [problem] = rig.problems()
    assert "slack-webhook: webhook answered 404 no_service" in problem
    assert rig.app.bus.pending(NOTIFY) == 0
    [event] = rig.app.store.list_events(tracked.message.id)
    assert event.is_human  # the event is stored whatever the channel did
    rig.app.bus.publish(NOTIFY, {"event_id": event.id, "message_id": tracked.message.id})
    rig.settle()
    assert len(hook.requests) == 1


def test_an_unreachable_webhook_does_not_break_the_pixel(rig: Rig, hook: WebhookReceiver) -> None:
    rig.settings(slack_webhook="http://127.0.0.1:9/nowhere")
    tracked = rig.track()
    assert rig.open(tracked) == 200
    rig.settle()
    assert rig.app.store.list_events(tracked.message.id)
    assert rig.app.bus.pending(NOTIFY) == 1 and rig.problems() == ()


def test_chat_webhook_posts_a_threaded_card(make_rig, hook: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    rig.settings(chat_webhook=f"{hook.url}/v1/spaces/AAA/messages?key=k1&token=t1")
    tracked = rig.track(links=["https://example.com/a"])
    rig.open(tracked)
    rig.click(tracked)
    rig.settle()
    first, second = hook.requests
    query = parse_qs(urlsplit(first["path"]).query)
    assert query == {
        "key": ["k1"],
        "token": ["t1"],
        "messageReplyOption": ["REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"],
    }
    bodies = [json.loads(r["body"]) for r in (first, second)]
    assert {b["thread"]["threadKey"] for b in bodies} == {f"mailbeacon-{tracked.message.id}"}
    card = bodies[1]["cardsV2"][0]["card"]
    labels = {
        w["decoratedText"]["topLabel"]: w["decoratedText"]["text"]
        for w in card["sections"][0]["widgets"]
        if "decoratedText" in w
    }
    assert (
        labels["Link clicked"] == "https://example.com/a" and labels["Subject"] == "Quarterly plan"
    )


def test_a_webhook_that_times_out_is_retried_then_left_on_the_bus(make_rig) -> None:  # type: ignore[no-untyped-def]
    import threading

    from functions.standins.loopback import LoopbackServer

    release = threading.Event()

    def stall(method: str, path: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        release.wait(3)  # longer than the notifier's 1 s timeout
        return 200, {}, b"ok"

    slow = LoopbackServer(stall)
    try:
        rig = make_rig(notify_timeout="1")
        rig.settings(slack_webhook=slow.url + "/hook")
        tracked = rig.track()
        assert rig.open(tracked) == 200
        rig.settle()
        assert len(slow.requests) == 3 and len(rig.sleeps) == 2  # timeouts retried in place
        assert rig.app.bus.pending(NOTIFY) == 1 and rig.problems() == ()
    finally:
        release.set()
        slow.stop()


def test_a_stored_webhook_outside_the_rules_is_never_posted_to(
    make_rig, hook: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    """A URL saved before the rules tightened (or written by hand) is checked again at send
    time: nothing is posted, and the user sees why."""
    rig = make_rig(webhook_allow_hosts="hooks.example.invalid")
    rig.settings(slack_webhook=f"{hook.url}/services/T1/B1/secret")
    rig.open(rig.track())
    rig.settle()
    assert hook.requests == []
    [problem] = rig.problems()
    assert "slack-webhook" in problem and "webhook refused" in problem

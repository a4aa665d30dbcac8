"""Web Push (the `browser` channel) and the live feed, end to end on the embedded store.

A recorded hit goes through the real pipeline and notifier; the push service is a loopback
stand-in (functions/standins/web_push.py) that checks VAPID and decrypts each message with the
keys this test made for the "browser", as the browser would. Subscriptions are made through
/api/v1 exactly as a page (or any client) would.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.bootstrap import bootstrap
from functions.config import load_config
from functions.standins.web_push import BrowserKeys, PushService
from mailbeacon.bus import DIGEST, NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.errors import InvalidInput
from mailbeacon.model import QuietHours
from mailbeacon.push import EndpointRules
from notifier.channels.browser import VapidKeys
from tests.support.processes import TEST_DEFAULTS

from .conftest import START, Rig

ANA = {"Authorization": "Bearer dev:ana@example.com"}
EVE = {"Authorization": "Bearer dev:eve@example.com"}


@pytest.fixture
def push() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.stop()


@pytest.fixture
def make_dev_rig(tmp_path: Path) -> Iterator[Any]:
    """A rig with --insecure-dev-auth: dev bearer tokens, and loopback push endpoints."""
    apps = []

    def make(dev: bool = True, **env: str) -> Rig:
        data = tmp_path / f"data{len(apps)}"
        data.mkdir()
        variables = {**TEST_DEFAULTS, **{f"MAILBEACON_{k.upper()}": v for k, v in env.items()}}
        config = load_config(
            variables, data_dir=data, public_url="http://mb.test", insecure_dev_auth=dev or None
        )
        clock = FixedClock(START)
        app = bootstrap(config, clock=clock)
        rig = Rig(app, clock)
        app.notifier.policy.sleep = rig.sleeps.append
        apps.append(app)
        return rig

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def rig(make_dev_rig: Any, push: PushService) -> Rig:
    rig: Rig = make_dev_rig()
    key = rig.web.get("/api/v1/push/key", headers=ANA).get_json()["vapid_public_key"]
    push.application_server_key = key  # the service refuses any other k (RFC 8292 4.2)
    return rig


def subscribe(rig: Rig, push: PushService, name: str, who: dict[str, str] = ANA) -> str:
    answer = rig.web.post("/api/v1/push/subscriptions", json=push.subscribe(name), headers=who)
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["id"])


def test_a_human_open_is_pushed_encrypted_and_vapid_signed(rig: Rig, push: PushService) -> None:
    subscribe(rig, push, "laptop")
    tracked = rig.track()
    assert rig.open(tracked) == 200
    rig.settle()
    assert push.refused == []
    [message] = push.received
    assert message.payload == {
        "title": "bo@example.org opened “Quarterly plan”",
        "body": message.payload["body"],
        "url": message.payload["url"],
        "message_id": tracked.message.id,
        "kind": "opened",
    }
    assert message.payload["url"].startswith(
        f"http://mb.test/dashboard/messages/{tracked.message.id}?key="
    )
    assert f"{START:%b} {START.day}, 09:00 UTC" in message.payload["body"]
    assert message.headers["ttl"] == "86400" and message.headers["urgency"] == "normal"
    assert message.vapid["claims"]["aud"] == push.url
    assert message.vapid["claims"]["sub"] == "mailto:mailbeacon@localhost"
    listed = rig.web.get("/api/v1/push/subscriptions", headers=ANA).get_json()
    [entry] = listed["subscriptions"]
    assert entry["last_success_at"] is not None  # shown on the settings page


def test_a_click_is_urgent(rig: Rig, push: PushService) -> None:
    subscribe(rig, push, "laptop")
    tracked = rig.track(links=["https://example.com/pricing"])
    rig.open(tracked)
    rig.click(tracked)
    rig.settle()
    kinds = [(m.payload["kind"], m.headers["urgency"]) for m in push.received]
    assert kinds == [("opened", "normal"), ("clicked", "high")]


def test_redelivery_of_the_same_event_sends_one_push(rig: Rig, push: PushService) -> None:
    subscribe(rig, push, "laptop")
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    [event] = rig.app.store.list_events(tracked.message.id)
    for _ in range(5):
        rig.app.bus.publish(NOTIFY, {"event_id": event.id, "message_id": tracked.message.id})
    assert rig.settle() == 5
    assert len(push.server.requests) == 1 and len(push.received) == 1


def test_an_expired_subscription_410_is_removed_and_the_others_still_get_it(
    rig: Rig, push: PushService
) -> None:
    gone = subscribe(rig, push, "old-phone")
    subscribe(rig, push, "laptop")
    push.then("old-phone", 410)
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    assert [m.path for m in push.received] == ["/push/laptop"]
    ids = [
        s["id"]
        for s in rig.web.get("/api/v1/push/subscriptions", headers=ANA).get_json()["subscriptions"]
    ]
    assert gone not in ids and len(ids) == 1
    assert rig.problems() == ()  # a browser that unsubscribed is not a problem


def test_404_also_removes_it(rig: Rig, push: PushService) -> None:
    subscribe(rig, push, "tablet")
    push.then("tablet", 404)
    rig.open(rig.track())
    rig.settle()
    assert rig.web.get("/api/v1/push/subscriptions", headers=ANA).get_json() == {
        "subscriptions": []
    }


def test_429_and_5xx_are_retried_without_pushing_twice_to_another_browser(
    rig: Rig, push: PushService
) -> None:
    subscribe(rig, push, "laptop")
    subscribe(rig, push, "phone")
    push.then("phone", 429, Retry_After="1").then("phone", 503)
    rig.open(rig.track())
    rig.settle()
    assert sorted(m.path for m in push.received) == ["/push/laptop", "/push/phone"]
    assert rig.sleeps[0] == 1.0 and len(rig.sleeps) == 2  # Retry-After, then backoff
    assert rig.problems() == ()


def test_a_long_outage_goes_back_to_the_bus_and_is_delivered_once_later(
    rig: Rig, push: PushService
) -> None:
    subscribe(rig, push, "laptop")
    for _ in range(3):  # more than the inline retries
        push.then("laptop", 500)
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()  # the NOTIFY row stays on the bus, with a backoff
    assert push.received == []
    rig.clock.advance(minutes=10)
    [event] = rig.app.store.list_events(tracked.message.id)
    rig.app.bus.publish(NOTIFY, {"event_id": event.id, "message_id": tracked.message.id})
    rig.settle()
    assert len(push.received) == 1


def test_a_refusal_is_a_problem_in_settings(rig: Rig, push: PushService) -> None:
    subscribe(rig, push, "laptop")
    push.then("laptop", 403)
    rig.open(rig.track())
    rig.settle()
    [problem] = rig.problems()
    assert re.search(r"browser: 127\.0\.0\.1:\d+ answered 403", problem)
    assert "/push/laptop" not in problem  # the endpoint is a capability: never shown or logged


def test_quiet_hours_hold_the_push_for_the_digest(rig: Rig, push: PushService) -> None:
    subscribe(rig, push, "laptop")
    rig.settings(quiet_hours=QuietHours(8, 10))  # START is 09:00 UTC
    rig.open(rig.track())
    rig.settle()
    assert push.received == []
    rig.app.bus.publish(DIGEST, {"date": START.date().isoformat()})
    assert rig.app.worker is not None
    rig.app.worker.drain([DIGEST])
    [digest] = push.received
    assert digest.payload["kind"] == "digest" and digest.headers["urgency"] == "low"
    assert digest.payload["url"] == "http://mb.test/dashboard/messages"
    assert digest.payload["message_id"] is None


def test_subscriptions_api_shapes_and_scoping(rig: Rig, push: PushService) -> None:
    web = rig.web
    sub_id = subscribe(rig, push, "laptop")
    assert subscribe(rig, push, "laptop") == sub_id  # the same browser again: one entry
    subscribe(rig, push, "phone")
    listed = web.get("/api/v1/push/subscriptions", headers=ANA).get_json()["subscriptions"]
    assert {tuple(sorted(s)) for s in listed} == {
        ("created_at", "endpoint_host", "id", "last_success_at")
    }
    assert all(s["endpoint_host"] == push.url.removeprefix("http://") for s in listed)
    assert web.get("/api/v1/push/subscriptions", headers=EVE).get_json() == {"subscriptions": []}
    assert web.delete(f"/api/v1/push/subscriptions/{sub_id}", headers=EVE).status_code == 404
    assert web.delete(f"/api/v1/push/subscriptions/{sub_id}", headers=ANA).status_code == 204
    assert web.delete(f"/api/v1/push/subscriptions/{sub_id}", headers=ANA).status_code == 404
    assert web.get("/api/v1/push/subscriptions").status_code == 401
    assert web.post("/api/v1/push/subscriptions", json=push.subscribe("x")).status_code == 401
    key = web.get("/api/v1/push/key", headers=ANA).get_json()
    assert list(key) == ["vapid_public_key"] and len(key["vapid_public_key"]) == 87


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",
        "https://push.example.com/send/abc",
        "https://fcm.googleapis.com:8443/fcm/send/abc",
        "https://user:pw@fcm.googleapis.com/fcm/send/abc",
        "http://127.0.0.1/no-port",
        "http://localhost:8080/push",
        "http://10.0.0.1:8080/push",
        "file:///etc/passwd",
        "",
        None,
        42,
    ],
)
def test_bad_endpoints_are_400_and_store_nothing(rig: Rig, endpoint: Any) -> None:
    body = BrowserKeys().subscription("x")
    body["endpoint"] = endpoint
    answer = rig.web.post("/api/v1/push/subscriptions", json=body, headers=ANA)
    assert answer.status_code == 400 and "endpoint" in answer.get_json()["error"]
    assert rig.web.get("/api/v1/push/subscriptions", headers=ANA).get_json() == {
        "subscriptions": []
    }


@pytest.mark.parametrize(
    "keys",
    [
        None,
        {},
        {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        {"p256dh": "BA" + "A" * 85, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},  # not on the curve
        {"p256dh": BrowserKeys().p256dh, "auth": "short"},
        {"p256dh": BrowserKeys().p256dh, "auth": "!!!!"},
    ],
)
def test_bad_keys_are_400(rig: Rig, push: PushService, keys: Any) -> None:
    body = push.subscribe("laptop")
    body["keys"] = keys
    answer = rig.web.post("/api/v1/push/subscriptions", json=body, headers=ANA)
    assert answer.status_code == 400, answer.get_json()
    assert rig.web.post("/api/v1/push/subscriptions", data="nope", headers=ANA).status_code == 400


def test_loopback_endpoints_need_insecure_dev_auth(make_dev_rig: Any, push: PushService) -> None:
    strict = make_dev_rig(dev=False)
    assert strict.web.get("/api/v1/push/key", headers=ANA).status_code == 401  # no dev tokens
    from mailbeacon import access_tokens

    _, secret = access_tokens.create_token(strict.app.store, "ana@example.com", "t", START)
    who = {"Authorization": f"Bearer {secret}"}
    answer = strict.web.post("/api/v1/push/subscriptions", json=push.subscribe("a"), headers=who)
    assert answer.status_code == 400
    fcm = BrowserKeys().subscription("https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b")
    assert strict.web.post("/api/v1/push/subscriptions", json=fcm, headers=who).status_code == 201


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH",
        "https://fcm.googleapis.com/wp/dGVzdA",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
        "https://wns2-by3p.notify.windows.com/w/?token=BQYAAAB",
        "https://web.push.apple.com/QGuHlqFz3rMKfB",
    ],
)
def test_the_known_push_services_are_accepted(endpoint: str) -> None:
    assert EndpointRules().check(endpoint) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com.evil.example/fcm/send/x",
        "https://evilnotify.windows.com/w/?token=x",
        "https://notify.windows.com.evil.example/w/",
        "https://apple.com/push",
        "https://updates.push.services.mozilla.com",
    ],
)
def test_look_alike_hosts_are_refused(endpoint: str) -> None:
    with pytest.raises(InvalidInput):
        EndpointRules(allow_loopback=True).check(endpoint)


def test_the_vapid_key_is_made_once_0600_and_kept(tmp_path: Path) -> None:
    first = VapidKeys.load_or_create(tmp_path / "data")
    again = VapidKeys.load_or_create(tmp_path / "data")
    assert first.public_key == again.public_key
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / "vapid-private.pem").st_mode)
    assert mode == 0o600


def test_the_cloud_key_comes_from_configuration(tmp_path: Path, make_dev_rig: Any) -> None:
    made = VapidKeys.generate()
    rig = make_dev_rig(vapid_private_key=made.pem().decode(), vapid_subject="mailto:ops@acme.test")
    key = rig.web.get("/api/v1/push/key", headers=ANA).get_json()["vapid_public_key"]
    assert key == made.public_key
    assert not list(Path(rig.app.config.core.data_dir).glob("vapid*"))  # no file made
    with pytest.raises(InvalidInput, match="VAPID_SUBJECT"):
        load_config({"MAILBEACON_VAPID_SUBJECT": "ops@acme.test"})
    with pytest.raises(InvalidInput, match="VAPID_PRIVATE_KEY"):
        VapidKeys.from_secret("not a key")


def test_settings_json_shows_the_browser_count(rig: Rig, push: PushService) -> None:
    from tests.support.processes import cli_json

    subscribe(rig, push, "laptop")
    subscribe(rig, push, "phone")
    shown = cli_json("settings", "--user", "ana@example.com", data_dir=rig.app.config.core.data_dir)
    assert shown["browser"] == {"subscriptions": 2}
    plain = cli_json("settings", "--user", "eve@example.com", data_dir=rig.app.config.core.data_dir)
    assert plain["browser"] == {"subscriptions": 0}


# the live feed (the short-poll form; the stream is exercised in the browser test)


def test_polling_the_api_returns_events_after_the_cursor(rig: Rig) -> None:
    first = rig.web.get("/api/v1/events", headers=ANA).get_json()
    assert first["events"] == [] and first["cursor"]
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    answer = rig.web.get(f"/api/v1/events?cursor={first['cursor']}", headers=ANA).get_json()
    [event] = answer["events"]
    assert event["message_id"] == tracked.message.id and event["kind"] == "open"
    assert event["human"] is True and event["subject"] == "Quarterly plan"
    rig.clock.advance(seconds=30)
    rig.open(tracked, user_agent="python-requests/2.32")
    rig.settle()
    later = rig.web.get(f"/api/v1/events?cursor={answer['cursor']}", headers=ANA).get_json()
    assert [e["verdict"] for e in later["events"]] != [] and later["events"][-1]["human"] is False
    assert event["id"] not in {e["id"] for e in later["events"]}
    assert (
        rig.web.get(f"/api/v1/events?cursor={first['cursor']}", headers=EVE).get_json()["events"]
        == []
    )  # another user's events are never in your feed
    assert rig.web.get("/api/v1/events?cursor=garbage", headers=ANA).status_code == 400


def test_the_feed_forgets_old_entries(rig: Rig) -> None:
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    rig.clock.advance(hours=1)
    rig.open(tracked, user_agent="python-requests/2.32")
    rig.settle()
    assert len(rig.app.store.list_records("live-events", prefix="ana@example.com|")) == 1


# the dashboard's side: the session-authenticated routes the page's script uses


def signed_in(rig: Rig, email: str = "ana@example.com") -> str:
    """Sign the rig's test client in through the dev form; returns the page's CSRF token."""
    web = rig.web
    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/dashboard/signin").text)
    assert token is not None
    web.post("/dashboard/signin/dev", data={"email": email, "csrf": token.group(1)})
    page = web.get("/dashboard/settings").text
    found = re.search(r'name="mailbeacon-csrf" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_page_subscribes_with_its_csrf_token_and_settings_list_it(
    rig: Rig, push: PushService
) -> None:
    csrf = signed_in(rig)
    body = push.subscribe("laptop")
    refused = rig.web.post("/dashboard/push/subscriptions", json=body)
    assert refused.status_code == 403  # a cross-site page cannot subscribe someone
    made = rig.web.post("/dashboard/push/subscriptions", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    key = rig.web.get("/dashboard/push/key").get_json()
    assert key == rig.web.get("/api/v1/push/key", headers=ANA).get_json()
    page = rig.web.get("/dashboard/settings").text
    assert push.url.removeprefix("http://") in page and "/push/laptop" not in page
    remove = re.search(r'action="(/dashboard/settings/push/[^"]+/remove)"', page)
    assert remove is not None
    form = re.search(r'name="csrf" value="([^"]+)"', page)
    assert form is not None
    assert rig.web.post(remove.group(1), data={"csrf": form.group(1)}).status_code == 303
    assert "No browser yet" in rig.web.get("/dashboard/settings").text


def test_the_stream_sends_new_events_and_is_bounded(rig: Rig) -> None:
    signed_in(rig)
    page = rig.web.get("/dashboard/messages").text
    cursor = re.search(r'data-cursor="([^"]+)"', page)
    assert cursor is not None and 'data-live="stream"' in page
    tracked = rig.track()
    rig.open(tracked)
    rig.settle()
    opened = []
    for _ in range(2):
        response = rig.web.get(f"/dashboard/live/stream?cursor={cursor.group(1)}", buffered=False)
        assert response.mimetype == "text/event-stream"
        opened.append(response)
    chunks = (chunk.decode() for chunk in opened[0].response)
    assert next(chunks).startswith("retry:")
    assert next(chunks).startswith("event: hello")
    message = next(chunks)
    assert message.startswith("event: mailbeacon\nid: ")
    assert '"subject":"Quarterly plan"' in message and '"human":true' in message
    third = rig.web.get("/dashboard/live/stream")
    assert third.status_code == 503  # cheroot's threads are for pixels: the page polls instead
    opened[0].close()
    again = rig.web.get("/dashboard/live/stream", buffered=False)
    assert again.status_code == 200
    again.close()
    opened[1].close()
    polled = rig.web.get(f"/dashboard/live/poll?cursor={cursor.group(1)}").get_json()
    assert [e["message_id"] for e in polled["events"]] == [tracked.message.id]
    from functions.app import create_app

    stranger = create_app(rig.app).test_client()  # no session
    assert stranger.get("/dashboard/live/poll").status_code == 401
    assert stranger.get("/dashboard/live/stream").status_code == 401
    assert stranger.post("/dashboard/push/subscriptions", json={}).status_code == 401


def test_the_feed_reads_across_minutes_and_only_recent_minutes(rig: Rig) -> None:
    from mailbeacon import live

    tracked = rig.track()
    rig.clock.advance(seconds=50)
    rig.open(tracked)
    rig.settle()  # processed at 09:00:50
    _, cursor = live.since(rig.app.records, "ana@example.com", None, rig.clock.now())
    rig.clock.advance(seconds=20)
    rig.open(tracked, user_agent="python-requests/2.32")
    rig.settle()  # processed at 09:01:10, the next minute
    events, _ = live.since(rig.app.records, "ana@example.com", cursor, rig.clock.now())
    assert events[-1]["human"] is False  # (the open at the cursor may repeat: overlap)
    rig.clock.advance(hours=2)  # a page back from sleep reads at most the last 15 minutes
    assert live.since(rig.app.records, "ana@example.com", cursor, rig.clock.now())[0] == []


def test_deleting_a_user_removes_their_browsers_and_live_feed(rig: Rig, push: PushService) -> None:
    from mailbeacon.privacy import delete_user

    subscribe(rig, push, "laptop")
    subscribe(rig, push, "eve-phone", who=EVE)
    rig.open(rig.track())
    rig.settle()
    gone = delete_user(rig.app.store, rig.app.records, "ana@example.com", at=rig.clock.now())
    assert gone.records["push-subscriptions"] == 1 and gone.records["live-events"] == 1
    assert rig.app.records.list_records("live-swept") == []
    assert rig.web.get("/api/v1/push/subscriptions", headers=ANA).get_json() == {
        "subscriptions": []
    }
    assert (
        len(rig.web.get("/api/v1/push/subscriptions", headers=EVE).get_json()["subscriptions"]) == 1
    )

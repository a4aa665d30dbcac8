"""The live dashboard and its desktop notifications in a real browser (Debian's Chromium).

`mailbeacon serve` streams events to the open page (Server-Sent Events); with the notification
permission granted the page raises a desktop notification through the Notification API (the
service worker registration's showNotification); the service worker shows a Web Push message.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from tests.support.processes import ServerProcess, wait_until

from .conftest import GMAIL, get

USER = "ann@example.com"
NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}));
}"""


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir=tmp_path / "data", extra_args=("--insecure-dev-auth",)).start()
    yield proc
    proc.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context()
    yield made
    made.close()


def sign_in(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/dashboard/signin")
    page.fill("input[name=email]", USER)
    page.locator("form.dev-signin button[type=submit]").click()
    page.wait_for_url(f"{server.url}/dashboard/messages")


def track(server: ServerProcess, subject: str, *links: str) -> dict[str, Any]:
    sent = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    return server.cli_json(  # type: ignore[no-any-return]
        "track", "--sender", USER, "--to", "bo@example.org", "--subject", subject,
        "--sent-at", sent, *(a for link in links for a in ("--link", link)),
    )  # fmt: skip


# The pages' CSP forbids eval, which Playwright's wait_for_function polls with: waits here
# are selectors, or page.evaluate (DevTools' Runtime.evaluate, outside the CSP) in wait_until.


def wait_ready(page: Page) -> None:
    """The stream is open and the service worker is registered and active."""
    page.wait_for_selector("body[data-live-connected='1']", state="attached")
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")


def shown_notifications(page: Page) -> list[dict[str, Any]]:
    """The notifications shown through the service worker's registration, once there are."""
    return wait_until(lambda: page.evaluate(NOTIFICATIONS), timeout=20)  # type: ignore[no-any-return]


def test_no_prompt_on_load_and_the_button_asks(
    dev_server: ServerProcess, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, dev_server)
    wait_ready(page)
    assert page.evaluate("Notification.permission") == "default"  # nothing asked on load
    button = page.locator("#notify-on")
    assert button.is_visible() and button.inner_text() == "Turn on desktop notifications"
    context.grant_permissions(["notifications"], origin=dev_server.url)
    button.click()
    page.locator("#notify-status").filter(has_text="notifications are on").wait_for()
    assert button.is_hidden()


def test_a_human_open_appears_live_and_raises_a_notification(
    dev_server: ServerProcess, context: BrowserContext
) -> None:
    context.grant_permissions(["notifications"], origin=dev_server.url)
    tracked = track(dev_server, "Renewal terms")
    page = context.new_page()
    sign_in(page, dev_server)
    page.goto(f"{dev_server.url}/dashboard/messages/{tracked['message_id']}")
    wait_ready(page)
    assert page.inner_text("#human-opens") == "0"

    assert get(tracked["pixel_url"], GMAIL) == 200  # no reload from here on

    item = page.wait_for_selector("#live-events li.human")
    assert item is not None and "bo@example.org opened “Renewal terms”" in item.inner_text()
    page.wait_for_selector("#events tbody tr.live-new")
    assert page.inner_text("#human-opens") == "1"
    [shown] = shown_notifications(page)
    assert shown["title"] == "bo@example.org opened “Renewal terms”"
    assert shown["tag"] == f"mailbeacon-{tracked['message_id']}"
    assert shown["url"] == f"/dashboard/messages/{tracked['message_id']}"


def test_a_page_loaded_just_after_an_open_shows_it_once(
    dev_server: ServerProcess, context: BrowserContext
) -> None:
    """The feed replays the seconds before a page's cursor (mailbeacon/live.py): an event the
    page already rendered must not come back as a second row or bump a count again."""
    tracked = track(dev_server, "Renewal terms", "https://example.com/terms")
    message_id = tracked["message_id"]
    assert get(tracked["pixel_url"], GMAIL) == 200
    page = context.new_page()
    sign_in(page, dev_server)
    stored = page.locator("#events tbody tr[data-event-id]")

    def rendered_with_the_open() -> bool:  # stored by the worker, so on the page as it loads
        page.goto(f"{dev_server.url}/dashboard/messages/{message_id}")
        return stored.count() == 1

    wait_until(rendered_with_the_open)
    wait_ready(page)
    assert page.locator("#events tbody tr").count() == 1

    assert get(tracked["links"][0]["tracked_url"], GMAIL) in (302, 303)  # a new event, live

    page.wait_for_selector("#events tbody tr.live-new")  # delivered after any replay
    assert page.locator("#events tbody tr").count() == 2
    assert page.inner_text("#human-opens") == "1"
    assert page.inner_text("#human-clicks") == "1"


def test_the_list_page_is_live_too_and_machine_hits_do_not_notify(
    dev_server: ServerProcess, context: BrowserContext
) -> None:
    context.grant_permissions(["notifications"], origin=dev_server.url)
    tracked = track(dev_server, "Invoice 7")
    page = context.new_page()
    sign_in(page, dev_server)
    wait_ready(page)
    assert get(tracked["pixel_url"], "python-requests/2.32") == 200
    item = page.wait_for_selector("#live-events li.machine")
    assert item is not None and "Invoice 7" in item.inner_text()
    assert page.evaluate(NOTIFICATIONS) == []


def test_the_service_worker_shows_a_web_push_message(
    dev_server: ServerProcess, context: BrowserContext
) -> None:
    """A push message as the browser hands it to the worker (DevTools' deliverPushMessage)."""
    context.grant_permissions(["notifications"], origin=dev_server.url)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    sign_in(page, dev_server)
    wait_ready(page)
    scope = f"{dev_server.url}/dashboard/"
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not any(r["scopeURL"] == scope and not r.get("isDeleted") for r in registrations):
        assert datetime.now(UTC) < deadline, registrations
        page.wait_for_timeout(50)  # CDP events are delivered while Playwright waits
    payload = {
        "title": "bo@example.org clicked a link in “Q3”",
        "body": "09:00 UTC · Gmail",
        "url": f"{dev_server.url}/dashboard/messages/m1?key=k",
        "message_id": "m1",
        "kind": "clicked",
    }

    def deliver() -> None:
        """To every live registration of the scope: an update event may name an earlier one
        that is being replaced; the notification's tag makes the deliveries one."""
        live = {
            r["registrationId"]
            for r in registrations
            if r["scopeURL"] == scope and not r.get("isDeleted")
        }
        for registration_id in sorted(live):
            try:
                cdp.send(
                    "ServiceWorker.deliverPushMessage",
                    {
                        "origin": dev_server.url,
                        "registrationId": registration_id,
                        "data": json.dumps(payload),
                    },
                )
            except PlaywrightError:  # a registration gone meanwhile
                continue

    for _ in range(3):  # a push to a worker still being replaced is dropped by the browser
        deliver()
        try:
            wait_until(lambda: page.evaluate(NOTIFICATIONS), timeout=5)
            break
        except AssertionError:
            page.wait_for_timeout(50)  # CDP's registration events arrive while Playwright waits
    [shown] = shown_notifications(page)
    assert shown == {
        "title": payload["title"],
        "body": payload["body"],
        "tag": "mailbeacon-m1",
        "url": payload["url"],
    }


def test_pages_carry_no_inline_script(dev_server: ServerProcess, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, dev_server)
    html = page.content()
    assert "<script>" not in html and '<script src="/dashboard/static/live.js"' in html
    with urllib.request.urlopen(f"{dev_server.url}/dashboard/signin") as response:
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_serve_pushes_a_human_open_to_a_subscribed_push_service(
    dev_server: ServerProcess,
) -> None:
    """What an outside push service sees: it subscribes through the API with its own keys."""
    from functions.standins.web_push import PushService

    service = PushService()
    try:
        who = {"Authorization": f"Bearer dev:{USER}", "Content-Type": "application/json"}

        def call(method: str, path: str, body: Any = None) -> Any:
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(
                dev_server.url + path, data=data, headers=who, method=method
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")

        service.application_server_key = call("GET", "/api/v1/push/key")["vapid_public_key"]
        made = call("POST", "/api/v1/push/subscriptions", service.subscribe("outside"))
        tracked = track(dev_server, "Signed contract")
        assert get(tracked["pixel_url"], GMAIL) == 200
        wait_until(lambda: service.received or service.refused, timeout=20)
        assert service.refused == []
        [message] = service.received
        assert message.payload["kind"] == "opened"
        assert message.payload["message_id"] == tracked["message_id"]
        assert message.payload["title"] == "bo@example.org opened “Signed contract”"
        key_file = dev_server.data_dir / "vapid-private.pem"
        assert key_file.stat().st_mode & 0o777 == 0o600
        # the success is recorded once the push service has answered: after it received it
        listed = wait_until(
            lambda: [
                s
                for s in call("GET", "/api/v1/push/subscriptions")["subscriptions"]
                if s["last_success_at"]
            ],
            timeout=10,
        )
        assert [s["id"] for s in listed] == [made["id"]]
    finally:
        service.stop()

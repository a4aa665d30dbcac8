"""Every dashboard page in a real browser (Debian's Chromium driven by Playwright) at a desktop
(1440x900) and a phone (390x844) size, against `mailbeacon serve --insecure-dev-auth` with
Google's sign-in and Gmail on loopback.

Ann saved Asia/Tokyo (nine hours from UTC, and her browser says New York): every page must show
her emails' times in Tokyo's time, reasons in plain words (mailbeacon.words, never a code), and
no page may be wider than the screen. Screenshots of every page at both sizes are kept in
tests/artifacts/ (.ci/run keeps them: listed, and copied to $CI_ARTIFACTS_DIR).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Page

from functions.standins.gmail import Gmail
from functions.standins.google_signin import GoogleSignIn
from mailbeacon import words
from tests.support.processes import ServerProcess, wait_until

from .conftest import GMAIL

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ANN, BO, ZED = "ann@acme.test", "bo@example.org", "zed@acme.test"
TOKYO = ZoneInfo("Asia/Tokyo")
TOPIC = "projects/mb-test/topics/gmail"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)
SAFE_LINKS = (  # a Microsoft 365 Safe Links build (gophish #2446; mailbeacon/classify/useragent.py)
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/80.0.3987.132 Safari/537.36"
)
SENT = "2026-01-05T10:00:00Z"  # 19:00 in Tokyo, 05:00 in New York
LONG_LINK = "https://example.com/" + "/".join(["a-rather-long-path-segment"] * 6) + "?utm=x"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
CODES = sorted(c for c in words.REASONS if "-" in c)  # a reason code never reaches a page


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method, server.url + path, json=body, headers={"Authorization": f"Bearer dev:{ANN}"},
        timeout=10,
    )  # fmt: skip
    assert answer.ok, answer.text
    return answer.json() if answer.content else None


def tokyo(value: str) -> str:
    """An API time as the pages write it in Tokyo (mailbeacon.localtime.when, this year)."""
    at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(TOKYO)
    year = "" if at.year == datetime.now(TOKYO).year else f", {at.year}"
    return f"{at:%b} {at.day}{year}, {at:%H:%M}"


@pytest.fixture(scope="module")
def gmail() -> Iterator[Gmail]:
    fake = Gmail()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, google: GoogleSignIn, gmail: Gmail
) -> Iterator[dict[str, Any]]:
    """Ann's emails: one opened, clicked and looked at by a scanner, with a reminder; one
    replied to (and auto-replied) through Gmail's sent-mail watch; one not opened."""
    home = tmp_path_factory.mktemp("every")
    env = {
        **google.env("acme.test"),
        "MAILBEACON_GMAIL_CREDENTIALS": str(gmail.key_file(home)),
        "MAILBEACON_GMAIL_API_URL": gmail.url,
        "MAILBEACON_GMAIL_WATCH_TOPIC": TOPIC,
    }
    server = ServerProcess(home / "data", ("--insecure-dev-auth",), env).start()
    assert server.cli_json("settings", "--user", ANN, "--timezone", "Asia/Tokyo")
    assert server.cli_json("policy", "--domain", "acme.test", "--admin", ANN)
    renewal = api(server, "POST", "/api/v1/messages", {
        "to": [BO, "cy@example.org", "di@example.org"], "subject": "Renewal terms for 2026",
        "links": ["https://example.com/terms", LONG_LINK], "sent_at": SENT,
    })  # fmt: skip
    api(server, "POST", "/api/v1/messages", {"to": [BO], "subject": "Lunch", "sent_at": SENT})
    due = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    api(server, "POST", f"/api/v1/messages/{renewal['message_id']}/reminder",
        {"due_at": due.isoformat()})  # fmt: skip
    proposal = api(server, "POST", "/api/v1/messages", {"to": [BO], "subject": "Proposal"})
    assert server.cli("gmail-watch", "renew").returncode == 0
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    original = gmail.send(ANN, html=f"<p>Hi</p>{proposal['html']}", to=BO, rfc_id="<p1@x>",
                          at=an_hour_ago)  # fmt: skip
    away = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes", "Precedence": "bulk"}
    gmail.reply(ANN, original, sender=BO, headers=away)
    gmail.reply(ANN, original, sender=f"Bo <{BO}>")
    push = json.dumps({"emailAddress": ANN, "historyId": str(gmail.box(ANN).history_id)})
    assert server.cli("gmail-watch", "push", "--data", push).returncode == 0
    # the hits after the CLI's writes: a worker write meeting the CLI's lock waits out a retry
    for url, ua in (
        (renewal["pixel_url"], GMAIL),
        (renewal["links"][0]["tracked_url"], CHROME),
        (renewal["pixel_url"], SAFE_LINKS),
    ):
        assert requests.get(url, headers={"User-Agent": ua}, allow_redirects=False, timeout=5)

    def settled() -> dict[str, Any] | None:
        rows = {m["subject"]: m for m in api(server, "GET", "/api/v1/messages")["messages"]}
        done = rows["Proposal"]["status"] == "replied" and (
            rows["Renewal terms for 2026"]["opens"]["machine"] == 1
        )
        return rows if done else None

    rows = wait_until(settled)
    details = {s: api(server, "GET", f"/api/v1/messages/{m['message_id']}")
               for s, m in rows.items()}  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    yield {"server": server, "rows": rows, "details": details}
    server.stop()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/dashboard/signin")
    page.fill("#dev-email", email)
    page.click("#dev-signin")
    page.wait_for_url("**/dashboard/messages")


class Look:
    """Each page: no sideways scroll, no reason code, a screenshot at this size."""

    def __init__(self, page: Page, size: str) -> None:
        self.page, self.size, self.wide = page, size, []  # type: list[str]

    def __call__(self, name: str) -> str:
        page = self.page
        page.wait_for_load_state("load")
        widths = page.evaluate(
            "[document.scrollingElement.scrollWidth, window.innerWidth]"
        )  # fmt: skip
        if widths[0] > widths[1]:
            culprits = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                  .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '')
                  + (e.className && typeof e.className === 'string' ? '.' + e.className : ''))"""
            )
            self.wide.append(f"{name}: {widths[0]}px > {widths[1]}px ({', '.join(culprits)})")
        text = page.locator("body").inner_text()
        shown = [c for c in CODES if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text)]
        assert not shown, (name, shown)
        assert "network:" not in text and " UTC" not in text and "(UTC)" not in text, name
        page.screenshot(path=str(ARTIFACTS / f"page-{name}-{self.size}.png"), full_page=True)
        return text


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_the_screen_in_the_users_time_and_words(
    site: dict[str, Any], browser: Browser, size: str
) -> None:
    base, rows, details = site["server"].url, site["rows"], site["details"]
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, timezone_id="America/New_York"
    )
    page = context.new_page()
    look = Look(page, size)
    try:
        page.goto(base + "/dashboard/signin")
        assert "Sign in" in look("signin")

        sign_in(page, base, ANN)
        text = look("list")
        renewal_row = page.locator("#messages tbody tr", has_text="Renewal terms")
        assert tokyo(SENT) in renewal_row.inner_text()  # "Jan 5, 19:00": Tokyo, not New York
        assert "19:00" in tokyo(SENT) and "Times are in Asia/Tokyo" in text

        page.goto(base + "/dashboard/messages?status=opened&q=renewal")
        look("list-filtered")
        assert page.locator("#messages tbody tr").count() == 1
        page.goto(base + "/dashboard/messages?q=nothing-like-this")
        assert "No tracked emails match these filters" in look("list-no-match")

        renewal = details["Renewal terms for 2026"]
        page.goto(f"{base}/dashboard/messages/{renewal['message_id']}")
        text = look("email")
        assert page.locator("#sent-at").inner_text() == tokyo(SENT)
        timeline = page.locator("#events tbody tr")
        assert timeline.count() == len(renewal["events"])
        cells = timeline.evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.innerText))")
        shown = sorted((c[0], c[1].split("\n")[0], c[2]) for c in cells)
        expected = sorted(
            (tokyo(e["at"]), words.kind(e["kind"]), words.verdict(e["verdict"]))
            for e in renewal["events"]
        )
        assert shown == expected  # each event at its Tokyo time
        for event in renewal["events"]:
            if event["verdict"] != "human":
                assert words.reasons(event["reasons"]) in text
        assert "A known security scanner" in text or "a known security scanner" in text
        reminder = page.locator("#reminder").inner_text()
        assert tokyo(renewal["reminder"]["due_at"]) in reminder, reminder
        assert "scheduled" not in reminder  # a state in words

        proposal = details["Proposal"]
        page.goto(f"{base}/dashboard/messages/{proposal['message_id']}")
        look("email-replied")
        replies = page.locator("#replies").inner_text()
        assert replies.startswith("1 reply by people")
        first = proposal["replies"]["first_replied_at"]
        assert tokyo(first) in replies, replies
        assert "Automatic reply" in page.locator("#events").inner_text()

        page.goto(f"{base}/dashboard/messages/{rows['Lunch']['message_id']}")
        assert "Nobody has opened it yet" in look("email-unopened")

        page.goto(base + "/dashboard/overview")
        text = look("overview")
        assert page.locator("#ov-messages").inner_text() == "3"
        assert "days in Asia/Tokyo" in text

        page.goto(base + "/dashboard/settings")
        look("settings")
        assert page.locator("#timezone").input_value() == "Asia/Tokyo"
        page.goto(base + "/dashboard/settings#followups")
        assert page.locator("#followups-form").is_visible()

        page.goto(base + "/dashboard/domain")
        text = look("domain")
        assert "Domain policy: acme.test" in text and tokyo_now_day() in text  # audit, Tokyo

        answer = page.goto(base + "/dashboard/messages/AAAAAAAAAAAAAAAA")
        assert answer is not None and answer.status == 404
        assert "Emails" in look("notfound")  # with the navigation

        page.click("#signout")
        page.wait_for_url("**/dashboard/signin")
        sign_in(page, base, ZED)
        assert "No tracked emails yet" in look("list-empty")
        page.goto(base + "/dashboard/overview")
        assert "Nothing in this period yet" in look("overview-empty")
        assert "Times are in America/New York" in page.locator("#zone-note").inner_text() or (
            "America/New_York" in page.locator("#zone-note").inner_text()
        )  # nothing saved: the browser's zone
    finally:
        context.close()
    assert not look.wide, "pages wider than the screen:\n" + "\n".join(look.wide)


def tokyo_now_day() -> str:
    """Today's date as the domain page's audit log writes it, in Tokyo."""
    now = datetime.now(TOKYO)
    return f"{now:%b} {now.day}"

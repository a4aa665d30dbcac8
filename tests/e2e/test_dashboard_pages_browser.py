"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against
`mailbeacon serve --insecure-dev-auth`, with Google's sign-in endpoints on loopback.

Two users side by side: Ann signs in (with Google, and with the dev form), lists, searches,
filters, opens an email and its timeline, looks at the overview's charts, exports CSV and signs
out; Eve sees none of Ann's emails, in the pages or in the API, however she guesses the URLs.
Screenshots of the list, the email and the overview are kept in tests/artifacts/.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from functions.standins.google_signin import GoogleSignIn
from tests.support.processes import ServerProcess, wait_until

from .conftest import GMAIL, get

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


def api(server: ServerProcess, path: str, user: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer dev:{user}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read().decode()
            return response.status, json.loads(raw) if "json" in response.headers[
                "Content-Type"
            ] else raw
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, google: GoogleSignIn
) -> Iterator[dict[str, Any]]:
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("dash") / "data",
        extra_args=("--insecure-dev-auth",),
        env=google.env("acme.test"),
    ).start()
    ann, eve = "ann@acme.test", "eve@acme.test"
    made = {}
    for minute, (subject, to, links) in enumerate(
        (
            ("Renewal <b>terms</b>", "bo@example.org", ["https://example.com/terms"]),
            ("Quarterly plan", "cy@example.org", []),
            ("Lunch on Friday", "di@example.org", []),
        )
    ):
        status, body = api(server, "/api/v1/messages", ann,
                           {"to": [to], "subject": subject, "links": links,
                            "sent_at": f"2026-01-05T10:0{minute}:00Z"})  # fmt: skip
        assert status == 201, body
        made[subject] = body
    status, eves = api(
        server, "/api/v1/messages", eve, {"to": ["x@example.org"], "subject": "Eve's own"}
    )
    assert status == 201
    renewal = made["Renewal <b>terms</b>"]
    assert get(renewal["pixel_url"], GMAIL) == 200
    assert get(renewal["links"][0]["tracked_url"], CHROME) == 302
    assert get(made["Quarterly plan"]["pixel_url"], GMAIL) == 200

    def processed() -> bool:
        rows = api(server, "/api/v1/messages", ann)[1]["messages"]
        return sorted(r["status"] for r in rows) == ["clicked", "opened", "sent"]

    wait_until(processed)
    ARTIFACTS.mkdir(exist_ok=True)
    yield {
        "server": server,
        "made": made,
        "eve_message": eves["message_id"],
        "ann": ann,
        "eve": eve,
    }
    server.stop()


def dev_sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/dashboard/")
    assert page.url.endswith("/dashboard/signin")
    assert page.locator("#dev-banner").is_visible()
    page.fill("#dev-email", email)
    page.click("#dev-signin")
    page.wait_for_url("**/dashboard/messages")


def subjects(page: Page) -> list[str]:
    """The list's first column, once the page is loaded: a click on Apply returns when the
    new page's navigation has begun, and reading the rows then could see none (CI did)."""
    page.wait_for_load_state("load")
    return [t.strip() for t in page.locator("#messages tbody tr td:first-child").all_inner_texts()]


def test_ann_lists_searches_filters_opens_an_email_exports_and_signs_out(
    site: dict[str, Any],
    browser: Browser,
) -> None:
    base, made = site["server"].url, site["made"]
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        dev_sign_in(page, base, site["ann"])
        assert subjects(page) == ["Lunch on Friday", "Quarterly plan", "Renewal <b>terms</b>"]
        assert page.locator("#who").inner_text() == site["ann"]
        row = page.locator("#messages tbody tr", has_text="Renewal")
        assert "Clicked" in row.inner_text() and "bo@example.org" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-list.png"), full_page=True)

        page.fill("#q", "renewal")
        page.click("#apply")
        assert subjects(page) == ["Renewal <b>terms</b>"]
        page.fill("#q", "CY@example")
        page.click("#apply")
        assert subjects(page) == ["Quarterly plan"]
        page.fill("#q", "")
        page.select_option("#status-filter", "sent")
        page.click("#apply")
        assert subjects(page) == ["Lunch on Friday"]
        page.select_option("#status-filter", "")
        page.fill("#until", "2020-01-01")
        page.click("#apply")
        assert subjects(page)[0].startswith("No tracked emails match these filters.")
        page.fill("#until", "")
        page.select_option("#sort", "oldest")
        page.click("#apply")
        assert subjects(page)[0] == "Renewal <b>terms</b>"

        with page.expect_download() as download:
            page.click("#csv")
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
        assert rows[0][1] == "Subject" and [r[1] for r in rows[1:]] == [
            "Renewal <b>terms</b>", "Quarterly plan", "Lunch on Friday",
        ]  # fmt: skip

        page.click("text=Renewal <b>terms</b>")
        page.wait_for_url(f"**/dashboard/messages/{made['Renewal <b>terms</b>']['message_id']}")
        assert page.locator("h1").inner_text() == "Renewal <b>terms</b>"
        assert page.locator("#status").inner_text() == "Clicked"
        assert page.locator("#human-clicks").inner_text() == "1"
        timeline = page.locator("#events tbody tr")
        assert timeline.count() == 2
        assert "https://example.com/terms" in timeline.nth(0).inner_text()
        assert "Person" in timeline.nth(1).inner_text() and "Gmail" in timeline.nth(1).inner_text()
        assert "1" in page.locator("#links tbody tr").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-email.png"), full_page=True)
        with page.expect_download() as download:
            page.click("#events-csv")
        assert ",Open,Person," in Path(download.value.path()).read_text()

        page.click("text=Overview")
        page.wait_for_url("**/dashboard/overview")
        assert page.locator("#ov-messages").inner_text() == "3"
        assert page.locator("#ov-open-rate").inner_text() == "67%"
        for chart in ("#chart-by-day", "#chart-hours", "#chart-clients", "#chart-machine"):
            assert page.locator(chart).is_visible()
            assert page.locator(f"{chart} > title").text_content()
        assert page.locator("#chart-by-day rect").count() >= 2
        assert "Gmail" in (page.locator("#clients-table").text_content() or "")
        page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

        page.click("text=Settings")
        page.fill("#token-name", "nightly report")
        page.click("#create-token")
        secret = page.locator("#new-token").input_value()
        assert secret.startswith("mbp_")
        page.fill("#slack-webhook", "http://169.254.169.254/latest")
        page.click("#save-settings")
        assert "Nothing was saved" in page.locator(".problem").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-settings.png"), full_page=True)
        request = urllib.request.Request(
            base + "/api/v1/messages", headers={"Authorization": f"Bearer {secret}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert len(json.load(answer)["messages"]) == 3

        page.click("#signout")
        page.wait_for_url("**/dashboard/signin")
        page.goto(base + "/dashboard/messages")
        assert page.url.endswith("/dashboard/signin")
        refused = [m for m in console if "Content Security Policy" in m or "404" in m]
        assert not refused, refused  # the CSP blocked nothing we ship, nothing was missing
    finally:
        context.close()


def test_eve_cannot_see_anns_emails_in_pages_or_api(
    site: dict[str, Any],
    browser: Browser,
) -> None:
    base, made, server = site["server"].url, site["made"], site["server"]
    page = browser.new_page()
    try:
        dev_sign_in(page, base, site["eve"])
        assert subjects(page) == ["Eve's own"]
        anns = made["Renewal <b>terms</b>"]["message_id"]
        mine = f"/dashboard/messages/{anns}"
        for path in (
            mine,
            f"{mine}/events.csv",
            f"{mine}?cursor=x",
            "/dashboard/messages/AAAAAAAA",
        ):
            response = page.goto(base + path)
            assert response is not None and response.status == 404, path
            assert "Renewal" not in page.content()
        page.goto(base + "/dashboard/messages?q=renewal")
        assert subjects(page)[0].startswith("No tracked emails match these filters.")
        page.goto(base + "/dashboard/overview")
        assert page.locator("#ov-messages").inner_text() == "1"
    finally:
        page.close()
    for path in (f"/api/v1/messages/{anns}", f"/api/v1/messages/{anns}/events"):
        assert api(server, path, site["eve"])[0] == 404
    listed = api(server, "/api/v1/messages", site["eve"])[1]["messages"]
    assert [m["subject"] for m in listed] == ["Eve's own"]
    assert api(server, f"/api/v1/messages/{site['eve_message']}", site["ann"])[0] == 404


def test_sign_in_with_google(site: dict[str, Any], browser: Browser, google: GoogleSignIn) -> None:
    base = site["server"].url
    page = browser.new_page()
    try:
        page.goto(base + "/dashboard/signin")
        page.click("#google-signin")
        page.wait_for_url("**/dashboard/messages")
        assert page.locator("#who").inner_text() == "ann@acme.test"
        assert "Renewal <b>terms</b>" in subjects(page)
        google.next_user = ("mallory@evil.test", "evil.test")
        other = browser.new_page()
        other.goto(base + "/dashboard/signin")
        other.click("#google-signin")
        assert "Sign-in failed" in other.locator(".problem").inner_text()
        other.close()
    finally:
        google.next_user = ("ann@acme.test", "acme.test")
        page.close()

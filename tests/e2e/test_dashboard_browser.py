"""The message page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, sync_playwright

from mailbeacon.services import Urls
from mailbeacon.tokens import TokenSigner, load_keyring
from tests.support.processes import ServerProcess, wait_until

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, (
        "Debian's chromium is required: `make test` installs it (scripts/ensure-chromium)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:  # type: ignore[override]
        return None


def get(url: str, ua: str) -> int:
    """Status of one request, redirects not followed (they would leave the machine)."""
    request = urllib.request.Request(url, headers={"User-Agent": ua})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_owner_sees_human_and_machine_hits_apart(
    server: ServerProcess, browser: Browser
) -> None:
    tracked = server.cli_json(
        "track",
        "--sender",
        "ann@example.com",
        "--to",
        "bo@example.org",
        "--subject",
        "Renewal <b>terms</b>",
        "--link",
        "https://example.com/terms",
        "--sent-at",
        "2026-01-05T10:00:00Z",
    )
    assert get(tracked["pixel_url"], GMAIL) == 200
    assert get(tracked["links"][0]["tracked_url"], GMAIL) == 302
    db = sqlite3.connect(server.data_dir / "mailbeacon.db")  # processed before we look
    wait_until(lambda: db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2)

    signer = TokenSigner(load_keyring(server.data_dir))
    url = Urls(server.url, signer).dashboard(tracked["message_id"], now=datetime.now(UTC))
    page = browser.new_page()
    try:
        page.goto(url)
        assert page.title().startswith("Renewal <b>terms</b>")
        assert page.locator("h1").inner_text() == "Renewal <b>terms</b>"  # text, not markup
        assert page.locator("#status").inner_text() == "clicked"
        assert page.locator("#human-opens").inner_text() == "1"
        rows = page.locator("#events tbody tr")
        assert rows.count() == 2
        assert "https://example.com/terms" in rows.nth(0).inner_text()
        assert "gmail" in rows.nth(1).inner_text() and "human" in rows.nth(1).inner_text()

        page.goto(url[:-3] + "abc")
        assert "not found" in page.content()
    finally:
        page.close()

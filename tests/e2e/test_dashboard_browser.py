"""The message page in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from playwright.sync_api import Browser

from mailbeacon.tokens import TokenSigner, load_keyring
from mailbeacon.urls import Urls
from tests.support.processes import ServerProcess, wait_until

from .conftest import GMAIL, get


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
        assert page.locator("#status").inner_text() == "Clicked"
        assert page.locator("#human-opens").inner_text() == "1"
        rows = page.locator("#events tbody tr")
        assert rows.count() == 2
        assert "https://example.com/terms" in rows.nth(0).inner_text()
        assert "Gmail" in rows.nth(1).inner_text() and "Person" in rows.nth(1).inner_text()

        page.goto(url[:-3] + "abc")
        assert "This page does not exist" in page.content()
    finally:
        page.close()

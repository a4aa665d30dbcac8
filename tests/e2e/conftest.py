"""What the end-to-end tests share: one Chromium per session for the browser tests, and plain
HTTP requests as a mail client's image proxy makes them."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

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


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (its own browser download cannot work here),
    launched once: each test opens its own context or page and closes it."""
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
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code

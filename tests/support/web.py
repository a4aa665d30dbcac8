"""HTTP as a browser without a browser: a cookie jar, the dashboard's dev sign-in, JSON.

For e2e tests that check what a user sees on a page or an endpoint without Playwright.
Cookies are whatever the server sets (their names are the server's business).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:  # type: ignore[override]
        return None


class Browserless:
    """Requests to one server, keeping its cookies, following no redirect."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect
        )

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 20,
    ) -> tuple[int, bytes, Any]:
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers

    def json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = self.request(path, **kwargs)
        return status, json.loads(body)

    def sign_in(self, email: str) -> None:
        """Through the dev sign-in form (`serve --insecure-dev-auth`)."""
        status, page, _ = self.request("/dashboard/signin")
        form = re.search(rb'name="csrf" value="([^"]+)"', page)
        assert status == 200 and form, status
        body = f"email={email}&csrf={form.group(1).decode()}".encode()
        status, _, _ = self.request(
            "/dashboard/signin/dev",
            method="POST",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 303, status

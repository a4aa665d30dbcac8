"""The add-on end to end against a running `mailbeacon serve`: the compose flow (track, insert
a link), then the recipient's client fetching the pixel and following the link, and the homepage
showing it; and request verification with real signed tokens over real HTTP."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from functions.standins.google_tokens import TokenIssuer
from tests.support import addon as ui
from tests.support.processes import ServerProcess, wait_until

USER = "sam@example.com"
SERVICE_ACCOUNT = "service-42@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
CLIENT_ID = "42-addon.apps.googleusercontent.com"
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def request(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None):
    """One HTTP request without following redirects: (status, headers, body bytes)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json", **(headers or {})} if data else headers
    conn.request(
        method, parts.path + (f"?{parts.query}" if parts.query else ""), data, all_headers or {}
    )
    response = conn.getresponse()
    out = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return out


def addon(server: ServerProcess, path: str, event: dict[str, Any], token: str) -> dict[str, Any]:
    status, _, body = request(
        server.url + path, "POST", event, {"Authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    return ui.check_response(json.loads(body))


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("addon") / "data"
    server = ServerProcess(data, extra_args=("--insecure-dev-auth",)).start()
    yield server
    server.stop()


def test_compose_flow_end_to_end(dev_server: ServerProcess) -> None:
    token = f"dev:{USER}"
    compose = ui.event("compose")
    card = ui.the_card(addon(dev_server, "/addon/compose", compose, token))
    assert "grace@example.net" in ui.text_of(card)

    track = ui.buttons(card)["Track opens"]
    assert track["function"] == dev_server.url + "/addon/compose/track"
    response = addon(
        dev_server,
        ui.path_of(track["function"]),
        ui.press(track, compose, subject="Pricing for ACME"),
        token,
    )
    pixel_html = ui.draft_update(response)["insertContents"][0]["content"]
    pixel_url = re.search(r'src="([^"]+)"', pixel_html).group(1)
    assert pixel_url.startswith(dev_server.url + "/p/")

    insert = ui.buttons(ui.the_card(response))["Insert tracked link"]
    response = addon(
        dev_server,
        ui.path_of(insert["function"]),
        ui.press(insert, compose, link_url="https://example.com/pricing", link_text="our pricing"),
        token,
    )
    anchor = ui.draft_update(response)["insertContents"][0]["content"]
    tracked_url = re.search(r'href="([^"]+)"', anchor).group(1).replace("&amp;", "&")
    assert tracked_url.startswith(dev_server.url + "/c/")
    assert "https://example.com/pricing" in ui.text_of(ui.the_card(response))

    status, headers, body = request(pixel_url, headers={"User-Agent": PROXY_UA})
    assert (status, headers["Content-Type"], len(body)) == (200, "image/gif", 43)
    status, headers, _ = request(tracked_url, headers={"User-Agent": BROWSER_UA})
    assert (status, headers["Location"]) == (302, "https://example.com/pricing")

    def homepage() -> str:
        return ui.text_of(
            ui.the_card(addon(dev_server, "/addon/homepage", ui.event("homepage"), token))
        )

    home = wait_until(lambda: (text := homepage()) and "Clicked" in text and text)
    assert "Pricing for ACME" in home and "Opened once" in home
    (message_id,) = re.findall(
        r'"message_id", "value": "([^"]+)"',
        json.dumps(addon(dev_server, "/addon/homepage", ui.event("homepage"), token)),
    )
    stats = dev_server.cli_json("stats", message_id)
    assert (stats["opens"]["human"], stats["clicks"]["human"]) == (1, 1)
    detail = ui.press(
        {
            "function": dev_server.url + "/addon/detail",
            "parameters": [{"key": "message_id", "value": message_id}],
        },
        ui.event("homepage"),
    )
    timeline = ui.text_of(ui.the_card(addon(dev_server, "/addon/detail", detail, token)))
    assert "Open · Person" in timeline and "Click · Person" in timeline

    # another user sees none of it
    other = ui.text_of(
        ui.the_card(
            addon(dev_server, "/addon/homepage", ui.event("homepage"), "dev:eve@example.com")
        )
    )
    assert "No tracked emails yet" in other and "Pricing" not in other


@pytest.fixture
def issuer() -> Iterator[TokenIssuer]:
    issuer = TokenIssuer()
    yield issuer
    issuer.stop()


def test_signed_requests_over_http(tmp_path: Path, issuer: TokenIssuer) -> None:
    env = {
        "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
        "MAILBEACON_ADDON_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
        "MAILBEACON_ADDON_CLIENT_ID": CLIENT_ID,
        "MAILBEACON_WORKSPACE_DOMAINS": "example.com",
    }
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        url = server.url + "/addon/compose/track"
        event = ui.event("compose_track_click")
        event["authorizationEventObject"]["userIdToken"] = issuer.token(
            audience=CLIENT_ID, email=USER
        )
        forger = TokenIssuer()
        bad = {
            "forged": forger.token(audience=url, email=SERVICE_ACCOUNT),
            "expired": issuer.token(audience=url, email=SERVICE_ACCOUNT, lifetime=-120),
            "wrong audience": issuer.token(audience=server.url + "/other", email=SERVICE_ACCOUNT),
            "wrong email": issuer.token(audience=url, email="attacker@example.com"),
            "dev without the flag": f"dev:{USER}",
        }
        for name, token in bad.items():
            status, _, body = request(url, "POST", event, {"Authorization": f"Bearer {token}"})
            assert status == 401, (name, body)
        good = issuer.token(audience=url, email=SERVICE_ACCOUNT)
        home = ui.event("homepage")
        home["authorizationEventObject"]["userIdToken"] = event["authorizationEventObject"][
            "userIdToken"
        ]
        home_token = issuer.token(audience=server.url + "/addon/homepage", email=SERVICE_ACCOUNT)
        before = ui.text_of(ui.the_card(addon(server, "/addon/homepage", home, home_token)))
        assert "No tracked emails yet" in before  # the refused requests wrote nothing
        addon(server, "/addon/compose/track", event, good)
        after = ui.text_of(ui.the_card(addon(server, "/addon/homepage", home, home_token)))
        assert "Not opened yet" in after
    finally:
        server.stop()


def test_dev_server_answers_errors_plainly(dev_server: ServerProcess) -> None:
    dev = {"Authorization": f"Bearer dev:{USER}", "Content-Type": "application/json"}
    status, _, _ = request(dev_server.url + "/addon/homepage", "POST", None, dev)
    assert status == 200  # an empty body is an empty event
    assert request(dev_server.url + "/addon/nowhere", "POST", {}, dev)[0] == 404
    assert request(dev_server.url + "/addon/homepage", "POST", {}, {})[0] == 401
    assert (
        request(dev_server.url + "/addon/homepage", "POST", {}, {"Authorization": "Bearer dev:"})[0]
        == 401
    )
    conn = http.client.HTTPConnection("127.0.0.1", dev_server.port, timeout=10)
    conn.request("POST", "/addon/homepage", b"{oops", dev)
    assert conn.getresponse().status == 400
    conn.close()

"""The add-on endpoints' rig, shared by this folder's tests: the real WSGI app, Google-signed
ID tokens verified against a loopback certificate server, Gmail answered by its stand-in, the
SQLite store. Every response is validated against the card schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import load_config
from functions.standins.gmail import Gmail
from functions.standins.google_tokens import TokenIssuer
from mailbeacon.clock import FixedClock
from tests.support import addon as ui

BASE = "https://mb.example.com"
SERVICE_ACCOUNT = "service-1234567890@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
CLIENT_ID = "1234567890-addon.apps.googleusercontent.com"
USER = "sam@example.com"
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
PROXY_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


MESSAGE_ID = "18c5f0e1a2b3c4d5"  # the open message in tests/fixtures/addon/message.json
USER_OAUTH_TOKEN = "ya29.a0AfB_byC-test-user-oauth-token"  # the events' userOAuthToken


def show(
    gmail: Gmail, html: str, *, sender: str | None = USER, labels: tuple[str, ...] = ("SENT",)
):
    """The message the user has open in Gmail, as users.messages.get will return it."""
    gmail.send(USER, html=html, sender=sender, labels=labels, gmail_id=MESSAGE_ID)


@pytest.fixture
def issuer() -> Iterator[TokenIssuer]:
    issuer = TokenIssuer()
    yield issuer
    issuer.stop()


@pytest.fixture
def gmail() -> Iterator[Gmail]:
    stand_in = Gmail()
    stand_in.tokens[USER_OAUTH_TOKEN] = USER
    yield stand_in
    stand_in.stop()


@pytest.fixture
def app(tmp_path: Path, issuer: TokenIssuer, gmail: Gmail) -> Iterator[App]:
    env = {
        "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
        "MAILBEACON_ADDON_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
        "MAILBEACON_ADDON_CLIENT_ID": CLIENT_ID,
        "MAILBEACON_WORKSPACE_DOMAINS": "example.com",
        "MAILBEACON_GMAIL_API_URL": gmail.url,
    }
    config = load_config(env, data_dir=tmp_path / "data", public_url=BASE)
    # a recent fixed time: events older than the retention period are not listed
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    app = bootstrap(config, clock=FixedClock(start))
    yield app
    app.close()


@pytest.fixture
def web(app: App):
    return create_app(app).test_client()


def signed(issuer: TokenIssuer, event: dict[str, Any], path: str, user: str = USER):
    """Headers and body as Google sends them: system token in the header, user token inside."""
    system = issuer.token(audience=BASE + path, email=SERVICE_ACCOUNT)
    auth = event.setdefault("authorizationEventObject", {})
    auth["systemIdToken"] = system
    auth["userIdToken"] = issuer.token(audience=CLIENT_ID, email=user, sub="10769150350006150715")
    return {"Authorization": f"Bearer {system}"}, event


def post(web, issuer: TokenIssuer, path: str, event: dict[str, Any], user: str = USER):
    headers, body = signed(issuer, event, path, user)
    response = web.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return ui.check_response(response.get_json())

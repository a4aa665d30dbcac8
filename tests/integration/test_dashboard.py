"""The message page behind an alert's link: the owner's key opens it, nothing else does."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.config import AppConfig
from mailbeacon.bus.memory import MemoryBus
from mailbeacon.clock import FixedClock
from mailbeacon.pipeline import process_hit
from mailbeacon.store.memory import MemoryStore
from mailbeacon.tracking import track_message

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.fixture
def app(tmp_path: Path, clock: FixedClock) -> App:
    config = AppConfig.local(tmp_path, public_url="https://mb.example")
    return bootstrap(config, clock=clock, store=MemoryStore(), bus=MemoryBus())


@pytest.fixture
def client(app: App) -> FlaskClient:
    return create_app(app).test_client()


def test_the_owner_key_shows_counts_and_every_event_escaped(app: App, client: FlaskClient) -> None:
    tracked = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender="ann@example.com",
        recipients=["bo@example.org"],
        subject="<script>alert(1)</script> Plan",
    )
    app.clock.advance(hours=2)  # type: ignore[attr-defined]
    pixel = tracked.pixel_url.removeprefix("https://mb.example")
    assert client.get(pixel, headers={"User-Agent": GMAIL}).status_code == 200
    for _topic, payload in list(app.bus.published):  # type: ignore[attr-defined]
        process_hit(app.store, app.bus, app.classifier, payload)

    page = client.get(
        app.urls.dashboard(tracked.message.id, now=app.clock.now()).removeprefix(
            "https://mb.example"
        )
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Plan" in html and "<script>" not in html
    assert 'id="human-opens">1<' in html and "Gmail" in html and ">Opened<" in html
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_wrong_expired_or_borrowed_keys_are_404(app: App, client: FlaskClient) -> None:
    mine = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender="ann@example.com",
        recipients=["b@example.org"],
    )
    other = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.records,
        sender="eve@example.com",
        recipients=["b@example.org"],
    )
    base = f"/dashboard/messages/{mine.message.id}"
    good = app.urls.dashboard(mine.message.id, now=app.clock.now()).removeprefix(
        "https://mb.example"
    )
    assert client.get(good).status_code == 200
    borrowed = app.urls.dashboard(other.message.id, now=app.clock.now()).split("?key=")[1]
    expired = app.urls.dashboard(mine.message.id, now=app.clock.now() - timedelta(days=31)).split(
        "?key="
    )[1]
    pixel_token = mine.pixel_url.rsplit("/", 1)[1].removesuffix(".gif")
    for key in ("", "garbage", borrowed, expired, pixel_token, good.split("?key=")[1][:-2] + "AA"):
        assert client.get(f"{base}?key={key}").status_code == 404, key

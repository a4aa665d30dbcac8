"""Hostile requests at the real WSGI edge: the recipient still gets the GIF or the redirect,
and the pipeline stores a verdict for every hit (label, never drop)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from functions.app import create_app
from functions.bootstrap import bootstrap
from functions.config import AppConfig
from mailbeacon.bus import HITS
from mailbeacon.stats import get_stats
from mailbeacon.tracking import track_message

HOSTILE_HEADERS = [
    {"User-Agent": "A" * 100_000},
    {"User-Agent": "Mozilla/5.0 (" * 500, "Accept": "*/*" * 1000},
    {"X-Forwarded-For": "unknown, , ,,"},
    {"X-Forwarded-For": "::ffff:40.107.218.12", "User-Agent": "Mozilla/5.0"},
    {"X-Forwarded-For": "[2001:db8::1]:443, 999.999.1.1"},
    {"X-Forwarded-For": "fe80::1%eth0", "Sec-Purpose": "x" * 5000},
    {"X-Forwarded-For": "1.2.3.4" + ",1.2.3.4" * 5000},
    {"User-Agent": ""},  # the test client would send its own otherwise
]


def test_hostile_requests_get_the_gif_and_a_stored_verdict(tmp_path: Path) -> None:
    app = bootstrap(AppConfig.local(tmp_path, trust_proxy=1))
    try:
        web = create_app(app).test_client()
        tracked = track_message(
            app.store,
            app.urls,
            app.clock,
            records=app.records,
            sender="s@example.com",
            recipients=["r@example.com"],
            links=["https://example.com/a"],
            sent_at=datetime.now(UTC) - timedelta(days=2),
        )
        data = tracked.to_public()
        pixel = data["pixel_url"].split("://", 1)[1].split("/", 1)[1]
        link = data["links"][0]["tracked_url"].split("://", 1)[1].split("/", 1)[1]
        for headers in HOSTILE_HEADERS:
            assert web.get("/" + pixel, headers=headers).status_code == 200
            assert web.get("/" + link, headers=headers).status_code == 302
        assert web.head("/" + link, headers={"User-Agent": ""}).status_code == 302
        app.worker.drain([HITS], include_leased=True)
        stats = get_stats(app.store, tracked.message.id)
    finally:
        app.close()
    events = stats["events"]
    assert len(events) == 2 * len(HOSTILE_HEADERS) + 1
    assert all(
        e["verdict"] in {"human", "self", "prefetch", "scanner", "bot"} and e["reasons"]
        for e in events
    )
    first_reasons = Counter(e["reasons"][0] for e in events)
    # the IPv4-mapped Microsoft address was still recognised at the edge
    assert first_reasons["network:microsoft-eop"] == 2
    # nothing at all is a bot; so is a huge unreadable user agent
    assert first_reasons["no-user-agent"] == 2 and first_reasons["head-request"] == 1
    assert first_reasons["unrecognised-user-agent"] == 2 * len(HOSTILE_HEADERS) - 4
    assert stats["opens"]["human"] == 0 and stats["status"] == "sent"

"""The local tracker end to end: `mailbeacon serve` as a real process and the CLI."""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.processes import ServerProcess

GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
SENT = "2026-01-05T10:00:00Z"
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.0 Safari/605.1.15"
)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:  # type: ignore[override]
        return None


def fetch(
    url: str, *, method: str = "GET", ua: str = GMAIL_PROXY
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers={"User-Agent": ua})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def track(server: ServerProcess, *links: str) -> dict[str, Any]:
    args = ["track", "--sender", "Ann@Example.com", "--to", "bob@example.org", "--subject", "Deck"]
    for link in links:
        args += ["--link", link]
    return server.cli_json(*args, "--sent-at", SENT)


def test_open_and_click_are_recorded_and_reported(server: ServerProcess) -> None:
    url = "https://example.com/deck?v=2&utm_source=mail#slide-3"
    tracked = track(server, url)
    assert tracked["pixel_url"].startswith(server.url + "/p/")
    assert tracked["pixel_url"] in tracked["html"] and tracked["links"][0]["url"] == url

    status, headers, body = fetch(tracked["pixel_url"])
    assert status == 200 and len(body) == 43 and body.startswith(b"GIF89a")
    assert headers["Content-Type"] == "image/gif"
    assert headers["Cache-Control"] == "no-store, no-cache, must-revalidate, private, max-age=0"

    status, headers, _ = fetch(
        tracked["links"][0]["tracked_url"], ua="Mozilla/5.0 (Macintosh) Safari/605.1.15"
    )
    assert status == 302 and headers["Location"] == url

    stats = server.cli_json("stats", tracked["message_id"])
    assert stats["message_id"] == tracked["message_id"] and stats["subject"] == "Deck"
    assert stats["status"] == "clicked"
    assert stats["opens"]["human"] == 1 and stats["clicks"]["human"] == 1
    open_event, click_event = stats["events"]
    assert open_event["kind"] == "open" and open_event["verdict"] == "human"
    assert open_event["client"] == "gmail" and open_event["reasons"]
    assert click_event["kind"] == "click" and click_event["url"] == url
    assert stats["first_opened_at"] is not None


def test_head_requests_are_answered_and_labelled_not_counted(server: ServerProcess) -> None:
    tracked = track(server)
    status, headers, _ = fetch(tracked["pixel_url"], method="HEAD", ua=BROWSER)
    assert status == 200 and headers["Content-Length"] == "43"
    stats = server.cli_json("stats", tracked["message_id"])
    assert stats["status"] == "sent" and stats["opens"] == {
        "human": 0,
        "unique_human": 0,
        "machine": 1,
    }
    assert stats["events"][0]["verdict"] == "prefetch"


def test_forged_tokens_are_404_and_record_nothing(server: ServerProcess) -> None:
    tracked = track(server, "https://example.com/")
    pixel_token = tracked["pixel_url"].rsplit("/", 1)[1][: -len(".gif")]
    link_token = tracked["links"][0]["tracked_url"].rsplit("/", 1)[1]
    forged = [
        f"{server.url}/p/{pixel_token[:-2]}xx.gif",
        f"{server.url}/p/{pixel_token[:20]}.gif",
        f"{server.url}/p/{link_token}.gif",  # a link token used as a pixel
        f"{server.url}/c/{pixel_token}",  # and the other way round
        f"{server.url}/c/{link_token[:-3]}abc",
        f"{server.url}/p/not-a-token.gif",
    ]
    for url in forged:
        assert fetch(url)[0] == 404, url
    stats = server.cli_json("stats", tracked["message_id"])
    assert stats["events"] == []
    db = sqlite3.connect(server.data_dir / "mailbeacon.db")
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    from tests.support.processes import spooled

    assert spooled(server.data_dir) == []


def test_a_crash_between_hit_and_processing_loses_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.processes import spooled, wait_until

    data = tmp_path / "data"
    # A worker that never gets to run: the hit is only in the spool when the process dies.
    first = ServerProcess(data_dir=data, env={"MAILBEACON_WORKER": "off"}).start()
    tracked = track(first)
    assert fetch(tracked["pixel_url"])[0] == 200
    first.kill()
    db = sqlite3.connect(data / "mailbeacon.db")
    assert len(spooled(data)) == 1
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    # stats counts it already, without waiting for any worker
    assert first.cli_json("stats", tracked["message_id"])["opens"]["human"] == 1

    second = ServerProcess(data_dir=data).start()
    try:
        wait_until(lambda: db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1)
        stats = second.cli_json("stats", tracked["message_id"])
        assert stats["opens"]["human"] == 1 and len(stats["events"]) == 1
    finally:
        second.stop()


def test_a_locked_database_does_not_touch_the_pixel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The edge writes only the spool: a writer holding the database (a long CLI command, a
    backup) neither slows the pixel nor loses its hits; the worker catches up after."""
    from tests.support.processes import wait_until

    server = ServerProcess(data_dir=tmp_path / "data", env={"MAILBEACON_SQLITE_BUSY_MS": "200"})
    server.start()
    try:
        tracked = track(server)
        lock = sqlite3.connect(server.data_dir / "mailbeacon.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            for _ in range(3):
                status, _, body = fetch(tracked["pixel_url"])
                assert status == 200 and len(body) == 43
            assert fetch(server.url + "/healthz")[0] == 200
        finally:
            lock.execute("ROLLBACK")
        wait_until(lambda: lock.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sender", "not-an-address", "--to", "b@example.org"], "not an email address"),
        (["--sender", "a@example.com", "--to", "b@"], "not an email address"),
        (
            ["--sender", "a@example.com", "--to", "b@example.org", "--link", "javascript:alert(1)"],
            "http(s)",
        ),
        (
            ["--sender", "a@example.com", "--to", "b@example.org", "--link", "data:text/html,x"],
            "http(s)",
        ),
        (["--sender", "a@example.com", "--to", "b@example.org", "--link", "/relative"], "http(s)"),
        (
            ["--sender", "a@example.com", "--to", "b@example.org", "--sent-at", "yesterday"],
            "ISO 8601",
        ),
        (["--sender", "a@example.com"], "required"),
    ],
)
def test_track_rejects_bad_input_with_one_line_and_writes_nothing(tmp_path, args, message) -> None:  # type: ignore[no-untyped-def]
    from tests.support.processes import run_cli

    result = run_cli("track", *args, data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    db_path = tmp_path / "mailbeacon.db"
    if db_path.exists():
        assert sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_stats_of_an_unknown_message_is_one_line_exit_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.processes import run_cli

    result = run_cli("stats", "AAAAAAAAAAAAAAAA", "--json", data_dir=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "no tracked message" in result.stderr


def test_settings_round_trip_through_the_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.processes import cli_json, run_cli

    saved = cli_json(
        "settings",
        "--user",
        "Ann@Example.com",
        "--slack-webhook",
        "http://127.0.0.1:9/hook",
        "--notify",
        "every-open",
        "--quiet-hours",
        "22-7",
        "--timezone",
        "Europe/Paris",
        data_dir=tmp_path,
    )
    assert saved["user"] == "ann@example.com" and saved["notify"] == "every-open"
    assert saved["quiet_hours"] == {"start": 22, "end": 7}
    assert cli_json("settings", "--user", "ann@example.com", data_dir=tmp_path) == saved
    bad = run_cli(
        "settings", "--user", "ann@example.com", "--notify", "sometimes", data_dir=tmp_path
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert cli_json("settings", "--user", "ann@example.com", data_dir=tmp_path) == saved


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/computeMetadata/v1/instance",
        "https://hooks.slack.com.evil.example/services/T/B/X",
    ],
)
def test_settings_refuses_a_webhook_outside_slack_and_chat(tmp_path, url) -> None:  # type: ignore[no-untyped-def]
    """Without MAILBEACON_WEBHOOK_ALLOW_HOSTS, a webhook must be Slack's or Chat's own host:
    the server posts alert contents (and the dashboard key) wherever the URL points."""
    from tests.support.processes import run_cli

    no_allow_list = {"MAILBEACON_WEBHOOK_ALLOW_HOSTS": ""}
    result = run_cli(
        "settings", "--user", "ann@example.com", "--slack-webhook", url,
        data_dir=tmp_path, env=no_allow_list,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "slack_webhook" in result.stderr
    assert not (tmp_path / "mailbeacon.db").exists()  # refused before anything was written


def test_a_malformed_setting_in_the_environment_is_one_line_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.processes import run_cli

    result = run_cli(
        "stats", "AAAAAAAAAAAAAAAA", data_dir=tmp_path, env={"MAILBEACON_TRUST_PROXY": "abc"}
    )
    assert result.returncode == 2 and "MAILBEACON_TRUST_PROXY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

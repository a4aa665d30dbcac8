"""Issue 24, items 2 and 3, against `mailbeacon serve` as a process: nothing given up in
silence, and a `/healthz` that tells the truth about the pipeline.

- A webhook that fails (429 with a Retry-After of ``nan``, ``-1``, garbage or a past date,
  5xx, timeouts) for longer than the old horizon (8 tries in about two minutes) gets the
  alert once it is back, exactly once.
- An alert finally given up is a problem its owner sees (CLI, dashboard, add-on card) naming
  the channel and the reason, and the operator sees it in `/healthz`.
- A worker that crash-loops on a read-only data dir turns `/healthz` 503 within the stall
  threshold; a corrupt frame header in the spool's active segment is skipped, and the hits
  after it are processed.

Retry and stall timings are configured short (MAILBEACON_RETRY_*, _STALL_SECONDS,
_HEARTBEAT_SECONDS), so each test runs in seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.standins.webhooks import WebhookReceiver
from mailbeacon.heartbeat import read_beat
from tests.support.processes import ServerProcess, wait_until
from tests.support.web import Browserless

USER = "ana@example.com"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
SENT = "2026-01-05T09:00:00Z"  # long before the open: a person, not a scanner at send time
FAST_RETRIES = {
    "MAILBEACON_RETRY_BASE": "0.05",
    "MAILBEACON_RETRY_CAP": "0.3",
    "MAILBEACON_NOTIFY_TIMEOUT": "0.5",
    "MAILBEACON_HEARTBEAT_SECONDS": "0.2",
}
STALL = 3.0
WATCHED = {"MAILBEACON_HEARTBEAT_SECONDS": "0.2", "MAILBEACON_STALL_SECONDS": str(STALL)}


def healthz(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def open_pixel(url: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": CHROME})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def track(server: ServerProcess, subject: str) -> dict[str, Any]:
    return server.cli_json(
        "track", "--sender", USER, "--to", "bo@example.org", "--subject", subject, "--sent-at", SENT
    )


def outbox_empty(server: ServerProcess) -> bool:
    _, report = healthz(server)
    spool = report.get("pipeline", {}).get("spool", {})
    if spool.get("backlog_bytes"):
        return False
    import sqlite3

    with sqlite3.connect(server.data_dir / "mailbeacon.db") as conn:
        return not conn.execute("SELECT COUNT(*) FROM outbox WHERE dead = 0").fetchone()[0]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


# item 2 ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_webhook_down_longer_than_the_old_horizon_gets_the_alert_once(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    failures: list[tuple[int, dict[str, Any]]] = [
        (429, {"Retry_After": "nan"}),
        (429, {"Retry_After": "-1"}),
        (500, {}),
        (503, {"Retry_After": "Wed, 21 Oct 2015 07:28:00 GMT"}),  # a date in the past
        (429, {"Retry_After": "soon"}),
        (502, {}),
    ] * 4 + [(0, {})] * 2  # two timeouts: held past the sender's deadline
    # 26 failed posts: the old outbox gave up after 8 deliveries of 3 posts each.
    for status, headers in failures:
        if status:
            receiver.then(status, b"try later", **headers)
        else:
            receiver.then(500, b"", hold=1.5)
    env = {**FAST_RETRIES, "MAILBEACON_RETRY_HORIZON": "600"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        hook = f"{receiver.url}/services/T000/B000/XXXX"
        server.cli_json("settings", "--user", USER, "--slack-webhook", hook)
        tracked = track(server, "Quarterly plan")
        open_pixel(tracked["pixel_url"])
        receiver.wait_for(len(failures) + 1, timeout=60)
        wait_until(lambda: outbox_empty(server), timeout=20)  # nothing left that could post
        posts = receiver.requests
        assert len(posts) == len(failures) + 1  # every failure retried, then one success
        assert "Quarterly plan" in posts[-1]["body"].decode()
        shown = server.cli_json("settings", "--user", USER)
        assert shown["problems"] == []
        status, report = healthz(server)
        assert status == 200 and report["pipeline"]["dead_letters"] == 0
        assert report["pipeline"]["alerts_given_up"] == 0
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


@pytest.mark.slow
def test_an_alert_given_up_is_a_problem_its_owner_and_the_operator_see(tmp_path: Path) -> None:
    receiver = WebhookReceiver(default=(503, {"Retry-After": "-1"}, b"down for maintenance"))
    env = {**FAST_RETRIES, "MAILBEACON_RETRY_HORIZON": "2"}
    server = ServerProcess(tmp_path / "data", extra_args=("--insecure-dev-auth",), env=env)
    server.start()
    try:
        hook = f"{receiver.url}/v1/spaces/AAA/messages?key=k&token=t"
        server.cli_json("settings", "--user", USER, "--chat-webhook", hook)
        open_pixel(track(server, "Board minutes")["pixel_url"])
        problems = wait_until(
            lambda: server.cli_json("settings", "--user", USER)["problems"], timeout=30
        )
        assert "chat-webhook" in problems[0] and "gave up" in problems[0]
        assert "503" in problems[0], problems
        # The dashboard's settings page and the add-on's settings card show it too.
        browser = Browserless(server.url)
        browser.sign_in(USER)
        status, page, _ = browser.request("/dashboard/settings")
        assert status == 200 and b"chat-webhook" in page and b"gave up" in page
        status, card = browser.json(
            "/addon/settings",
            method="POST",
            body=b"{}",
            headers={"Authorization": f"Bearer dev:{USER}"},
        )
        assert status == 200 and "chat-webhook" in json.dumps(card), card
        # ...and the operator, in /healthz (the pipeline works: it stays 200).
        status, report = wait_until(
            lambda: (got := healthz(server))[1]["pipeline"].get("alerts_given_up") and got,
            timeout=10,
        )
        assert status == 200
        assert "chat-webhook" in report["pipeline"]["last_alert_given_up"]
        # given up: nothing is left in the outbox to post again (it is the only source)
        assert wait_until(lambda: outbox_empty(server), timeout=10)
    finally:
        server.stop()
        receiver.stop()


# item 3 ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def read_only(data_dir: Path) -> Iterator[None]:
    """The data dir (all but the spool the edge holds open) read-only for new opens: an
    immutable attribute as root (chmod does not bind root), permissions otherwise."""
    frozen = [
        p for p in data_dir.iterdir() if p.name != "spool" and not p.name.startswith("server-")
    ]
    if os.geteuid() == 0:
        done = subprocess.run(
            ["chattr", "+i", *map(str, frozen), str(data_dir)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"chattr is not supported here: {done.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, frozen), str(data_dir)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [*frozen, data_dir]}
    for path in frozen:
        path.chmod(0o444 if path.is_file() else 0o555)
    data_dir.chmod(0o555)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_a_worker_crash_looping_on_a_read_only_data_dir_turns_healthz_503(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data", env=WATCHED).start()
    try:
        tracked = track(server, "Offsite")
        open_pixel(tracked["pixel_url"])  # the edge's spool segment is open from here on
        beat = wait_until(lambda: read_beat(server.data_dir / "worker.json"))
        assert healthz(server)[0] == 200
        with read_only(server.data_dir):
            os.kill(beat.pid, signal.SIGKILL)  # it is started again, and cannot open its store
            broke = time.monotonic()
            open_pixel(tracked["pixel_url"])  # answered, recorded in the spool, not processed
            _, report = wait_until(
                lambda: (got := healthz(server))[0] == 503 and got, timeout=STALL + 5
            )
            assert time.monotonic() - broke < STALL + 3
            assert report["status"] == "degraded"
            assert "worker" in report["reason"] or "not processed" in report["reason"], report
            assert report["pipeline"]["spool"]["backlog_bytes"] > 0
            # the beat goes stale a little later than the backlog shows (a loaded machine)
            _, report = wait_until(
                lambda: (got := healthz(server))[1]["pipeline"]["worker"]["alive"] is False and got,
                timeout=STALL + 5,
            )
            assert report["status"] == "degraded"
    finally:
        server.stop()


def test_a_corrupt_header_in_the_active_segment_is_skipped_promptly(tmp_path: Path) -> None:
    from mailbeacon.bus.spool import MAGIC, lane_dir, lanes, segment_path, segments

    server = ServerProcess(tmp_path / "data", env=WATCHED).start()
    try:
        first, second = track(server, "Before"), track(server, "After")
        open_pixel(first["pixel_url"])
        wait_until(lambda: server.cli_json("stats", first["message_id"])["events"])
        spool = server.data_dir / "spool"
        # every edge process's active segment (the next hits may go to any of them)
        active = [lane_dir(spool, n) for n in lanes(spool) if segments(lane_dir(spool, n))]
        assert active
        for lane in active:
            with segment_path(lane, segments(lane)[-1]).open("ab") as segment:
                # a header claiming 60 KB, and a few bytes
                segment.write(struct.pack("<2sII", MAGIC, 60_000, 0) + b"garbage")
        for _ in range(3):
            open_pixel(second["pixel_url"])
        events = wait_until(
            lambda: (
                len(got := server.cli_json("stats", second["message_id"])["events"]) == 3 and got
            ),
            timeout=10,
        )
        assert len(events) == 3
        assert wait_until(lambda: healthz(server)[0] == 200)
        # the worker's own line (`stats` in this process may read the spool's tail itself)
        # (a whole frame after the header shows it corrupt; a lane the next hits did not reach
        # shows it torn once it is old enough)
        assert wait_until(
            lambda: re.search("claims 60000 bytes|ends in a torn record", server.log.read_text()),
            timeout=10,
        )
    finally:
        server.stop()

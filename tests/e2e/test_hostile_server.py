"""The outside audit of issue 10, replayed against `mailbeacon serve` as a subprocess.

Each test is one family of attacks or faults, from the unauthenticated internet, a careless
operator or a failing disk, and asserts what a user or operator would notice: the status
code, the GIF still served, what is stored (nothing, for refused input), what the logs hold.
Google and Slack are loopback servers speaking their wire formats; the disk is a real tmpfs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import sqlite3
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from functions.standins.google_tokens import TokenIssuer
from functions.standins.loopback import free_port
from functions.standins.webhooks import WebhookReceiver
from mailbeacon.health import FAILURE_HOLD
from tests.support.fake_gcloud import FakeGcloud
from tests.support.processes import MAILBEACON, ServerProcess, run_cli, wait_until
from tests.support.tmpfs import small_tmpfs

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
USER = "ana@example.com"
SENT = "2026-01-05T09:00:00Z"


def http(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:  # type: ignore[override]
        return None


def db_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "mailbeacon.db") as conn:
        return conn.execute(sql, params).fetchall()


BACKGROUND = ("reminder-scan", "live-swept")
"""Records the worker's own jobs write on their schedule, whatever a request does."""


def table_counts(data_dir: Path) -> dict[str, int]:
    """Rows per table except the outbox (hits and sweeps come and go there) and the records
    the worker's schedules write (BACKGROUND)."""
    tables = [
        name
        for (name,) in db_rows(data_dir, "SELECT name FROM sqlite_master WHERE type = 'table'")
        if name not in ("outbox", "sqlite_sequence")
    ]
    counts = {t: db_rows(data_dir, f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}
    if "records" in counts:  # one query: the worker may write a background record between two
        marks = ", ".join("?" * len(BACKGROUND))
        query = f"SELECT COUNT(*) FROM records WHERE namespace NOT IN ({marks})"
        counts["records"] = db_rows(data_dir, query, BACKGROUND)[0][0]
    return counts


def track(server: ServerProcess, subject: str = "Quarterly plan", **kw: str) -> dict[str, Any]:
    args = ["track", "--sender", USER, "--to", "bo@example.org", "--subject", subject]
    args += ["--sent-at", SENT]
    for key, value in kw.items():
        args += [f"--{key.replace('_', '-')}", value]
    return server.cli_json(*args)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that need nothing else; each counts only its own message."""
    proc = ServerProcess(
        data_dir=tmp_path_factory.mktemp("served") / "data",
        extra_args=("--trust-proxy", "1", "--insecure-dev-auth"),
        env={"MAILBEACON_SLACK_SIGNING_SECRET": SIGNING_SECRET},
    ).start()
    yield proc
    proc.stop()


# 1 -------------------------------------------------------------------------------------------
def test_forwarded_for_padding_cannot_choose_the_client_address(served: ServerProcess) -> None:
    tracked = track(served)
    attacker = "198.51.100.66"
    padded = ", ".join([attacker] * 112) + " " * 40 + ", 203.0.113.9"
    commas = "," * 1024 + "203.0.113.10"
    for xff in (padded, commas):
        status, _, _ = http(
            tracked["pixel_url"], headers={"User-Agent": CHROME, "X-Forwarded-For": xff}
        )
        assert status == 200
    # stored by the worker (stats alone would count them while still in the spool)
    mine = ("SELECT network, ip_hash FROM events WHERE message_id = ?", (tracked["message_id"],))
    wait_until(lambda: len(db_rows(served.data_dir, *mine)) == 2)
    networks = sorted(r[0] for r in db_rows(served.data_dir, *mine))
    hashes = [r[1] for r in db_rows(served.data_dir, *mine)]
    assert networks == ["203.0.113.0/24", "203.0.113.0/24"]  # what our proxy saw, both times
    assert all(hashes) and len(set(hashes)) == 2


# 2 -------------------------------------------------------------------------------------------
class Blackhole:
    """A certificate URL that accepts connections and never answers (Google being slow)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/oauth2/v1/certs"

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_a_certificate_url_that_never_answers_does_not_stall_the_pixel(tmp_path: Path) -> None:
    hole = Blackhole()
    issuer = TokenIssuer()  # signs real RS256 tokens; its certificates are never reachable
    server = ServerProcess(
        tmp_path / "data",
        env={
            # A failed fetch is remembered by the process that made it (as by each instance
            # on Cloud Functions): one edge process, so that every wave below meets it.
            "MAILBEACON_EDGE_PROCESSES": "1",
            "MAILBEACON_GOOGLE_CERTS_URL": hole.url,
            "MAILBEACON_ADDON_SERVICE_ACCOUNT": "sa@gcp-sa-gsuiteaddons.iam.gserviceaccount.com",
            "MAILBEACON_ADDON_CLIENT_ID": "1234-addon.apps.googleusercontent.com",
            "MAILBEACON_WORKSPACE_DOMAINS": "example.com",
        },
    ).start()
    try:
        tracked = track(server)
        token = issuer.token(audience=server.url + "/chat", email="chat@system.gserviceaccount.com")

        def chat() -> int:
            return http(
                server.url + "/chat",
                method="POST",
                body=b"{}",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=60,
            )[0]

        def addon() -> int:
            return http(
                server.url + "/addon/homepage",
                method="POST",
                body=b"{}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )[0]

        with ThreadPoolExecutor(16) as pool:
            pending = [pool.submit(chat) for _ in range(8)] + [pool.submit(addon) for _ in range(8)]
            wait_until(lambda: hole.accepted, timeout=10)  # a fetch is hanging now
            started = time.monotonic()
            for _ in range(5):
                status, body, _ = http(tracked["pixel_url"], headers={"User-Agent": CHROME})
                assert status == 200 and body.startswith(b"GIF89a")
            assert time.monotonic() - started < 3
            assert [f.result() for f in pending] == [401] * 16
        assert len(hole.accepted) == 1  # one fetch at a time, for every verifier
        # The failure is remembered: another wave is refused at once, without a new fetch.
        started = time.monotonic()
        assert chat() == 401 and addon() == 401
        assert time.monotonic() - started < 2 and len(hole.accepted) == 1
        # A token that is not even shaped like a JWT costs no fetch at all.
        for junk in ("x" * 5000, "a.b", "e30.e30.e30", "Zm9v.YmFy.YmF6"):
            status, _, _ = http(
                server.url + "/chat",
                method="POST",
                body=b"{}",
                headers={"Authorization": f"Bearer {junk}"},
            )
            assert status == 401
        assert len(hole.accepted) == 1
    finally:
        server.stop()
        hole.close()


# 3 -------------------------------------------------------------------------------------------
def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # the server may stop reading: its answer is still there
        try:
            return sock.recv(4096)
        except ConnectionResetError:
            return b""


def test_huge_headers_and_bodies_are_refused_unread(served: ServerProcess) -> None:
    status_line = raw_request(
        served.port,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200_000 + b"\r\n\r\n",
    ).split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] in (b"413", b"431"), status_line
    # 30 MB of header: refused; the server does not read it all and stays up.
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 30_000_000 + b"\r\n\r\n"
    answer = raw_request(served.port, big)
    assert answer == b"" or answer.split(b" ")[1] in (b"413", b"431")
    # A 3 MB body is refused on its Content-Length, before a byte of it is read.
    answer = raw_request(
        served.port,
        b"POST /addon/homepage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer dev:a@example.com"
        b"\r\nContent-Type: application/json\r\nContent-Length: 3145728\r\n\r\n{",
    )
    assert answer.split(b" ")[1] == b"413", answer[:100]
    assert http(served.url + "/healthz")[0] == 200


def test_connections_that_send_nothing_do_not_take_the_pixels_threads(
    served: ServerProcess,
) -> None:
    """Browsers preconnect, scanners connect and wait: 20 silent connections, five times the
    request threads, and the pixel still answers at once (cheroot alone gave each a thread
    until its 10 s socket timeout)."""
    tracked = track(served)
    silent = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(20)]
    try:
        for _ in range(3):
            started = time.monotonic()
            status, body, _ = http(tracked["pixel_url"], headers={"User-Agent": CHROME})
            assert status == 200 and body.startswith(b"GIF89a")
            assert time.monotonic() - started < 2.0, "the pixel waited for a free thread"
    finally:
        for sock in silent:
            sock.close()
    # stored before the next test on this server counts its tables
    stored = ("SELECT id FROM events WHERE message_id = ?", (tracked["message_id"],))
    wait_until(lambda: len(db_rows(served.data_dir, *stored)) == 3)
    wait_until(lambda: not db_rows(served.data_dir, "SELECT id FROM outbox"))


# 4 -------------------------------------------------------------------------------------------
def slack_signed(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def test_bad_input_never_answers_500_and_writes_nothing(served: ServerProcess) -> None:
    tracked = track(served)
    before = table_counts(served.data_dir)
    dev = {"Authorization": "Bearer dev:ana@example.com", "Content-Type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000
    addon_events = [
        {"commonEventObject": {"parameters": {"before": "9999-12-31T23:59:59-23:59"}}},
        {"commonEventObject": {"parameters": {"before": "0001-01-01T00:00:00+23:59"}}},
        {"commonEventObject": {"parameters": {"page": "²"}}},
        {"commonEventObject": {"parameters": {"page": "99999999999999999999"}}},
    ]
    compose = [
        {"gmail": {"toRecipients": ["a" * 5000 + "@example.com"]}},
        {"gmail": {"toRecipients": ["b@" + "a" * 5000 + ".com"]}},
        {
            "gmail": {"toRecipients": ["bo@example.org"]},
            "commonEventObject": {"formInputs": {"subject": {"stringInputs": {"value": ["a\nb"]}}}},
        },
    ]
    answers: list[tuple[str, int, bytes]] = []

    def post(path: str, body: bytes, headers: dict[str, str]) -> None:
        status, data, _ = http(served.url + path, method="POST", body=body, headers=headers)
        answers.append((path, status, data))

    post("/addon/homepage", deep, dev)
    post("/addon/homepage", deep, {"Content-Type": "application/json"})  # before auth
    for event in addon_events:
        post("/addon/homepage", json.dumps(event).encode(), dev)
    for event in compose:
        post("/addon/compose/track", json.dumps(event).encode(), dev)
    for hour in ("²", "٣", "99999999999999999999"):
        form = {"quiet_start": {"stringInputs": {"value": [hour]}}}
        event = {"commonEventObject": {"formInputs": form, "timeZone": {"id": "UTC"}}}
        post("/addon/settings/save", json.dumps(event).encode(), dev)
    for path in ("/slack/events", "/slack/interactivity"):
        post(path, b"{}", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"})
        post(path, b"{}", {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=0"})
    for body in (b"[1,2]", b'{"event": "x"}', b'{"event": {"type": "app_uninstalled"}}', deep):
        post("/slack/events", body, slack_signed(body))
    for path in ("/slack/events", "/slack/interactivity"):
        post(path, b"\xff\xfe", slack_signed(b"\xff\xfe"))  # not UTF-8
    for payload in ([1], {"actions": ["x"], "team": "x", "user": "y"}, {"actions": "x"}, "s"):
        body = b"payload=" + urllib.parse.quote(json.dumps(payload)).encode()
        post("/slack/interactivity", body, slack_signed(body))
    statuses = [(path, status) for path, status, _ in answers]
    assert all(status in (200, 400, 401) for _, status in statuses), statuses
    assert statuses[0][1] == 400 and statuses[1][1] == 401  # the deep body: refused, not 500
    for path, status, data in answers:
        if path.startswith("/addon") and status == 200:  # a card (maybe an error card)
            assert isinstance(json.loads(data), dict) and b"Traceback" not in data
    # A message with as many links as it may hold: the next is refused, not saved.
    message = tracked["message_id"]
    link_event = {
        "commonEventObject": {
            "parameters": {"message_id": message, "pixel": "no"},
            "formInputs": {"link_url": {"stringInputs": {"value": ["https://example.com/x"]}}},
        },
        "gmail": {"toRecipients": ["bo@example.org"]},
    }
    body = json.dumps(link_event).encode()
    saved = 0
    while True:
        status, data, _ = http(
            served.url + "/addon/compose/link", method="POST", body=body, headers=dev
        )
        assert status == 200, data[:300]
        if b"Something went wrong" in data:
            break
        saved += 1
        assert saved <= 200, "no per-message link limit"
    links = len(served.cli_json("stats", message)["links"])
    assert links == saved and b"at most" in data
    after = table_counts(served.data_dir)
    assert {k: v for k, v in after.items() if k != "links"} == {
        k: v for k, v in before.items() if k != "links"
    }
    assert http(served.url + "/healthz")[0] == 200


def test_chat_events_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    issuer = TokenIssuer()
    server = ServerProcess(
        tmp_path / "data",
        env={
            "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
            "MAILBEACON_CHAT_ISSUER_EMAILS": "chat@system.gserviceaccount.com",
        },
    ).start()
    try:
        before = table_counts(server.data_dir)
        token = issuer.token(audience=server.url + "/chat", email="chat@system.gserviceaccount.com")
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = [
            {"type": "ADDED_TO_SPACE", "space": "x", "user": {"email": USER}},
            {"type": "MESSAGE", "space": {"name": 5, "type": "DM"}, "user": {"email": USER}},
            {"chat": {"messagePayload": "x", "user": {"email": USER}}},
            {"chat": {"addedToSpacePayload": {"space": []}, "user": "x"}},
            {"chat": "x"},
            [1, 2],
        ]
        for event in bodies:
            status, data, _ = http(
                server.url + "/chat", method="POST", body=json.dumps(event).encode(), headers=auth
            )
            assert status in (200, 400), (event, status, data)
        deep = b"[" * 100_000 + b"]" * 100_000
        assert http(server.url + "/chat", method="POST", body=deep, headers=auth)[0] == 400
        assert table_counts(server.data_dir) == before
    finally:
        server.stop()
        issuer.stop()


# 5 -------------------------------------------------------------------------------------------
def token_variants(token: str) -> list[str]:
    """Other spellings of the same bytes: junk characters, padding, the last character's
    spare bits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    spare = 6 - (len(token) * 6) % 8 if (len(token) * 6) % 8 else 0
    variants = [token[:5] + "!" + token[5:], token + "====", token + "=", " " + token]
    variants += [token[:-1] + alphabet[last ^ bit] for bit in range(1, 1 << min(spare, 4))]
    return [v for v in variants if v != token]


def test_only_the_canonical_token_spelling_counts(served: ServerProcess) -> None:
    tracked = track(served, link="https://example.com/a")
    pixel = tracked["pixel_url"].rsplit("/", 1)[1].removesuffix(".gif")
    click = tracked["links"][0]["tracked_url"].rsplit("/", 1)[1]
    base = served.url
    for variant in token_variants(pixel):
        url = f"{base}/p/{urllib.parse.quote(variant, safe='=!')}.gif"
        assert http(url, headers={"User-Agent": CHROME})[0] == 404, variant
    for variant in token_variants(click):
        url = f"{base}/c/{urllib.parse.quote(variant, safe='=!')}"
        assert http(url, headers={"User-Agent": CHROME})[0] == 404, variant
    assert http(tracked["pixel_url"], headers={"User-Agent": CHROME})[0] == 200
    wait_until(lambda: served.cli_json("stats", tracked["message_id"])["events"])
    served.cli("stats", tracked["message_id"])
    assert len(served.cli_json("stats", tracked["message_id"])["events"]) == 1


# 6 -------------------------------------------------------------------------------------------
def test_slack_install_states_are_bounded_and_bound_to_the_browser(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        extra_args=("--trust-proxy", "1"),
        env={"MAILBEACON_SLACK_CLIENT_ID": "123.456", "MAILBEACON_SLACK_CLIENT_SECRET": "s3cr3t"},
    ).start()

    def install(client: str) -> tuple[int, str, str]:
        status, _, headers = http(
            server.url + "/slack/install", headers={"X-Forwarded-For": client}
        )
        location = urllib.parse.urlsplit(headers.get("Location", "")).query
        state = (urllib.parse.parse_qs(location).get("state") or [""])[0]
        return status, state, headers.get("Set-Cookie", "")

    try:
        status, state, cookie = install("192.0.2.10")
        assert status == 302
        # the state is an entry of the one __session jar
        assert cookie.startswith("__session=") and "HttpOnly" in cookie and "Path=/;" in cookie
        # The link alone (another browser, a login-CSRF victim) is refused, and changes nothing.
        callback = f"{server.url}/slack/oauth/callback?code=c&state={state}"
        assert http(callback)[0] == 401
        # 260 anonymous GETs from one network cannot grow the table, nor lock anyone out:
        # they replace their own states, and a real install from elsewhere still starts.
        real = install("203.0.113.7")
        flood = [install(f"198.51.100.{n % 250}") for n in range(260)]
        assert {f[0] for f in flood} == {302}
        after = install("192.0.2.99")
        assert after[0] == 302 and after[1]
        keys = {
            row[0]
            for row in db_rows(
                server.data_dir, "SELECT key FROM records WHERE namespace = 'slack-oauth-state'"
            )
        }
        assert real[1] in keys and after[1] in keys and len(keys) <= 3 + 5
    finally:
        server.stop()


# 7 -------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "4m") as mount:
        yield mount


def fill(path: Path) -> None:
    """Fill the file system holding ``path`` to the last byte."""
    with (path / "filler").open("wb", buffering=0) as f:
        for size in (65536, 512, 1):
            try:
                while f.write(b"\0" * size):
                    pass
            except OSError:
                pass


def test_a_full_disk_still_serves_the_gif_and_healthz_says_why(small_disk: Path) -> None:
    server = ServerProcess(small_disk / "data", env={"MAILBEACON_WORKER": "off"}).start()
    try:
        tracked = track(server)
        fill(small_disk)
        statuses = set()
        for _ in range(40):  # the WAL has some room left; it runs out within a few hits
            status, body, _ = http(tracked["pixel_url"], headers={"User-Agent": CHROME})
            statuses.add(status)
            assert status == 200 and body.startswith(b"GIF89a")
            if http(server.url + "/healthz")[0] == 503:
                break
        status, body, _ = http(server.url + "/healthz")
        report = json.loads(body)
        assert status == 503 and report["status"] == "degraded"
        assert "disk full" in report["reason"] or "full" in report["reason"], report
        assert "Traceback" not in server.log.read_text()
        (small_disk / "filler").unlink()
        wait_until(  # the failed process's next hit, or the others' after FAILURE_HOLD
            lambda: (
                http(tracked["pixel_url"], headers={"User-Agent": CHROME})[0] == 200
                and http(server.url + "/healthz")[0] == 200
            ),
            timeout=FAILURE_HOLD + 10,
        )
        # recording works again: the hit after the disk was freed is processed and counted
        assert server.cli_json("stats", tracked["message_id"])["events"]
    finally:
        server.stop()


# 8 -------------------------------------------------------------------------------------------
def start_fails(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MAILBEACON, "serve", "--port", str(port)],
        env={**os.environ, "MAILBEACON_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_failed_start_exits_with_one_line_and_holds_no_port(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "mailbeacon.db").write_bytes(b"this is not a database" * 100)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    cases = {
        "bad secret": (tmp_path / "d1", {"MAILBEACON_SECRET": "short"}),
        "corrupt database": (corrupt, {}),
        "unusable data dir": (blocker / "data", {}),
        "bad trust proxy": (tmp_path / "d2", {"MAILBEACON_TRUST_PROXY": "abc"}),
    }
    for name, (data_dir, env) in cases.items():
        port = free_port()
        result = start_fails(data_dir, port, env)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, name
        with socket.socket() as probe:  # the port is free: nothing was left holding it
            probe.bind(("127.0.0.1", port))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_fails(tmp_path / "d3", port, {})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


# 9 -------------------------------------------------------------------------------------------
def test_webhook_secrets_stay_out_of_logs_and_stored_errors(tmp_path: Path) -> None:
    slack = WebhookReceiver(default=(500, {"Content-Type": "text/plain"}, b"oops"))
    closed = free_port()
    slack_url = f"{slack.url}/services/T000/B000/SLACKSECRETPATH"
    chat_url = f"http://127.0.0.1:{closed}/v1/spaces/AAA/messages?key=CHATKEYSECRET&token=CHATTOK"
    server = ServerProcess(tmp_path / "data").start()
    try:
        server.cli("settings", "--user", USER, "--slack-webhook", slack_url)
        server.cli("settings", "--user", USER, "--chat-webhook", chat_url)
        tracked = track(server)
        assert http(tracked["pixel_url"], headers={"User-Agent": CHROME})[0] == 200
        slack.wait_for(2, timeout=30)  # slack_sdk retried (and logged each retry)
        wait_until(
            lambda: db_rows(
                server.data_dir,
                "SELECT last_error FROM outbox WHERE topic = 'notify' AND last_error IS NOT NULL",
            ),
            timeout=30,
        )
        stored = "\n".join(
            str(row) for row in db_rows(server.data_dir, "SELECT * FROM outbox")
        ) + json.dumps(server.cli_json("settings", "--user", USER)["problems"])
    finally:
        server.stop()
        slack.stop()
    log = server.log.read_text()
    assert "notify" in log  # the failures were logged...
    for secret in ("SLACKSECRETPATH", "CHATKEYSECRET", "CHATTOK"):
        assert secret not in log, secret  # ...without the secrets
        assert secret not in stored, secret


# 10 ------------------------------------------------------------------------------------------
def test_the_data_dir_is_private(served: ServerProcess) -> None:
    track(served)
    http(served.url + "/healthz")
    data = served.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("mailbeacon.db", "mailbeacon.db-wal", "mailbeacon.db-shm", "secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


# 11 ------------------------------------------------------------------------------------------
def test_via_addresses_are_reduced_before_they_are_stored(tmp_path: Path) -> None:
    from tests.support.processes import spooled

    server = ServerProcess(tmp_path / "data", env={"MAILBEACON_WORKER": "off"}).start()
    try:
        tracked = track(server)
        via = "1.1 198.51.100.77:3128 (squid/6.1), 1.0 [2001:db8:1:2::77]:80 (from 192.0.2.55)"
        headers = {"User-Agent": CHROME, "Via": via}
        assert http(tracked["pixel_url"], headers=headers)[0] == 200
        # the hit as the edge wrote it, in the spool
        stored = " ".join(r.decode() for r in spooled(server.data_dir))
    finally:
        server.stop()
    payload = json.loads(stored)
    assert payload["via"] == (
        "1.1 198.51.100.0/24 (squid/6.1), 1.0 [2001:db8:1::/48]:80 (from 192.0.2.0/24)"
    )
    for raw in ("198.51.100.77", "2001:db8:1:2::77", "192.0.2.55"):
        assert raw not in stored


# 12, 16 --------------------------------------------------------------------------------------
def test_cli_refuses_bad_input_with_one_line_and_creates_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    to = ["--to", "bo@example.org"]
    cases = [
        ["track", "--sender", "not-an-address", *to],
        ["track", "--sender", USER, *to, "--subject", "a\nb"],
        ["track", "--sender", USER, *to, "--subject", "x" * 100_000],
        ["track", "--sender", USER, *to, "--sent-at", "9999-12-31T23:59:59-23:59"],
        ["track", "--sender", USER, *to, "--sent-at", "0001-01-01T00:00:00+23:59"],
    ]
    for args in cases:
        result = run_cli(*args, data_dir=fresh)
        assert result.returncode == 2, (args[:6], result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert not fresh.exists(), args[:6]
    for env in ({"MAILBEACON_TRUST_PROXY": "abc"}, {"MAILBEACON_SECRET": "1:short"}):
        result = run_cli("track", "--sender", USER, *to, data_dir=fresh, env=env)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert not fresh.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("track", "--sender", USER, "--to", "bo@example.org", data_dir=blocker / "d")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


# 13 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", ["inf", "1e400", "99999999"])
def test_an_endless_retry_after_becomes_a_problem_not_a_parked_alert(
    tmp_path: Path, retry_after: str
) -> None:
    hook = WebhookReceiver(default=(429, {"Retry-After": retry_after}, b"rate_limited"))
    server = ServerProcess(tmp_path / "data").start()
    try:
        server.cli("settings", "--user", USER, "--slack-webhook", f"{hook.url}/services/T/B/X")
        tracked = track(server)
        assert http(tracked["pixel_url"], headers={"User-Agent": CHROME})[0] == 200
        problems = wait_until(
            lambda: server.cli_json("settings", "--user", USER)["problems"], timeout=30
        )
        assert "slack-webhook" in problems[0] and "wait" in problems[0]
        wait_until(
            lambda: not db_rows(server.data_dir, "SELECT id FROM outbox WHERE topic = 'notify'")
        )
    finally:
        server.stop()
        hook.stop()


# 14 ------------------------------------------------------------------------------------------
def test_the_deploy_plan_quotes_every_value(tmp_path: Path, gcloud: FakeGcloud) -> None:
    pwned = tmp_path / "PWNED"
    payload = f"a'$(touch${{IFS}}{pwned})'`touch${{IFS}}{pwned}`,b"
    # A custom domain is https://DOMAIN and nothing else (its front routes the paths): a URL
    # carrying shell syntax is refused before anything is written.
    refused = run_cli(
        "deploy", "--project", "acme-mail-1", "--region", "europe-west1", "--dry-run",
        "--public-url", f"https://x.example/{payload}", "--source-dir", str(tmp_path / "src"),
        data_dir=tmp_path / "d",
    )  # fmt: skip
    assert refused.returncode == 2 and refused.stdout == ""
    assert not (tmp_path / "src").exists()
    # A setting passed through from the deployer's environment reaches every function
    # verbatim, and the shell never runs any of it.
    sender = f"Mailbeacon <mb@x.example> {payload}"
    result = run_cli(
        "deploy", "--project", "acme-mail-1", "--region", "europe-west1", "--dry-run",
        "--public-url", "https://track.x.example", "--source-dir", str(tmp_path / "src"),
        data_dir=tmp_path / "d", env={"MAILBEACON_MAIL_FROM": sender},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = subprocess.run(
        ["bash"],
        input=result.stdout,
        text=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{gcloud.bin_dir}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert not pwned.exists()
    argvs = gcloud.calls
    env_args = [a for argv in argvs for a in argv if a.startswith("--set-env-vars=")]
    assert env_args and all(f"MAILBEACON_MAIL_FROM={sender}" in a for a in env_args)
    assert all("MAILBEACON_PUBLIC_URL=https://track.x.example" in a for a in env_args)


# 17 ------------------------------------------------------------------------------------------
def test_a_missing_notifier_package_is_a_problem_not_a_retry_loop(tmp_path: Path) -> None:
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'slack_sdk' or name.startswith('slack_sdk.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Missing())\n"
    )
    hook = WebhookReceiver()
    server = ServerProcess(
        tmp_path / "data",
        env={"PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        server.start()
        server.cli("settings", "--user", USER, "--slack-webhook", f"{hook.url}/services/T/B/X")
        tracked = track(server)
        assert http(tracked["pixel_url"], headers={"User-Agent": CHROME})[0] == 200
        problems = wait_until(
            lambda: server.cli_json("settings", "--user", USER)["problems"], timeout=30
        )
        assert "slack-webhook" in problems[0] and "not installed" in problems[0]
        wait_until(
            lambda: not db_rows(server.data_dir, "SELECT id FROM outbox WHERE topic = 'notify'")
        )
    finally:
        server.stop()
        hook.stop()


# 15 ------------------------------------------------------------------------------------------
def test_only_workspace_users_get_in_and_alerts_mail_only_their_domain(tmp_path: Path) -> None:
    client_id = "1234567890-addon.apps.googleusercontent.com"
    issuer = TokenIssuer()
    server = ServerProcess(
        tmp_path / "data",
        env={
            "MAILBEACON_GOOGLE_CERTS_URL": issuer.certs_url,
            "MAILBEACON_ADDON_CLIENT_ID": client_id,
            "MAILBEACON_WORKSPACE_DOMAINS": "example.com",
        },
    ).start()

    def call(route: str, token: str, event: dict[str, Any] | None = None) -> tuple[int, bytes]:
        status, data, _ = http(
            f"{server.url}/addon/{route}",
            method="POST",
            body=json.dumps(event or {}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return status, data

    try:
        outsiders = [
            issuer.token(audience=client_id, email="eve@gmail.com", hd=None),  # consumer
            issuer.token(audience=client_id, email="eve@other.org"),  # another Workspace
            issuer.token(audience=client_id, email="bot@evil-project.iam.gserviceaccount.com"),
            issuer.token(audience=client_id, email="eve@example.com.evil.org", hd="example.org"),
        ]
        for token in outsiders:
            assert call("homepage", token)[0] == 401
        ana = issuer.token(audience=client_id, email=USER)
        assert call("homepage", ana)[0] == 200

        def save(email_to: str) -> bytes:
            form = {"email_to": {"stringInputs": {"value": [email_to]}}}
            event = {"commonEventObject": {"formInputs": form, "timeZone": {"id": "UTC"}}}
            status, data = call("settings/save", ana, event)
            assert status == 200
            return data

        assert b"own domain" in save("victim@elsewhere.net")
        assert server.cli_json("settings", "--user", USER)["email_to"] is None
        save("ana.alerts@example.com")
        assert server.cli_json("settings", "--user", USER)["email_to"] == "ana.alerts@example.com"
        assert table_counts(server.data_dir)["messages"] == 0
    finally:
        server.stop()
        issuer.stop()

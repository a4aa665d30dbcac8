"""Issue 24, items 4 and 5, against `mailbeacon serve` as a process: every hostile input is
answered 400/401 (or an error card), never 500, and nothing of it is stored; a certificate URL
that trickles cannot hold a request or the server's exit.

Each family is tried in several spellings, not only the one the audit sent: nesting of other
depths and shapes, lone surrogates of both halves in every field, cursors of other depths and
calendar edges, other junk VAPID keys, bytes that are not UTF-8 in other arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.standins.google_tokens import TokenIssuer
from tests.support.processes import MAILBEACON, ServerProcess, cli_env, run_cli, wait_until
from tests.support.tmpfs import small_tmpfs
from tests.support.web import Browserless

USER = "ana@example.com"
DEV = {"Authorization": f"Bearer dev:{USER}"}
JSON = {"Content-Type": "application/json"}
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SURROGATES = ("\ud800", "\udc80", "\udfff", "\ud83d")  # lone halves of both kinds


def deep(depth: int, shape: str) -> bytes:
    """JSON nested ``depth`` levels: arrays, objects, or both in turn."""
    if shape == "array":
        return b"[" * depth + b"]" * depth
    if shape == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    pairs = (depth + 1) // 2  # two levels each: at least ``depth`` in all
    return b'{"a":[' * pairs + b"1" + b"]}" * pairs


def stored_rows(data_dir: Path) -> dict[str, int]:
    """Rows per table, except what comes and goes by itself (outbox, sessions, live feed, the
    reminder scan's lease)."""
    with sqlite3.connect(data_dir / "mailbeacon.db") as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}
        records = conn.execute(
            "SELECT namespace, COUNT(*) FROM records WHERE namespace NOT IN"
            " ('dashboard-sessions', 'live-events', 'live-swept', 'reminder-scan')"
            " GROUP BY namespace"
        ).fetchall()
    counts.pop("records", None)
    counts.pop("outbox", None)
    return counts | {f"records/{ns}": n for ns, n in records}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"MAILBEACON_SLACK_SIGNING_SECRET": SIGNING_SECRET}
    server = ServerProcess(
        tmp_path_factory.mktemp("hostile") / "data", extra_args=("--insecure-dev-auth",), env=env
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(served: ServerProcess) -> Browserless:
    signed_in = Browserless(served.url)
    signed_in.sign_in(USER)
    return signed_in


def csrf_of(browser: Browserless) -> str:
    _, page, _ = browser.request("/dashboard/settings")
    found = re.search(rb'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1).decode()


def slack_signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/json",
    }


# one JSON reader --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["array", "object", "mixed"])
@pytest.mark.parametrize("depth", [100_000, 1_100, 33])
def test_deep_json_is_400_everywhere_and_stores_nothing(
    served: ServerProcess, browser: Browserless, shape: str, depth: int
) -> None:
    before = stored_rows(served.data_dir)
    body = deep(depth, shape)
    client = Browserless(served.url)
    answers = {
        "api messages": client.request(
            "/api/v1/messages", method="POST", body=body, headers={**DEV, **JSON}
        ),
        "api push": client.request(
            "/api/v1/push/subscriptions", method="POST", body=body, headers={**DEV, **JSON}
        ),
        "dashboard push": browser.request(
            "/dashboard/push/subscriptions",
            method="POST",
            body=body,
            headers={**JSON, "X-CSRF-Token": csrf_of(browser)},
        ),
        "add-on": client.request("/addon/homepage", method="POST", body=body, headers=DEV),
        "slack events": client.request(
            "/slack/events", method="POST", body=body, headers=slack_signed(body)
        ),
        "chat": client.request("/chat", method="POST", body=body, headers=JSON),
        "gmail push": client.request("/gmail/push", method="POST", body=body, headers=JSON),
    }
    statuses = {name: answer[0] for name, answer in answers.items()}
    assert all(status in (400, 401, 404) for status in statuses.values()), statuses
    assert statuses["api messages"] == statuses["api push"] == statuses["add-on"] == 400
    assert statuses["dashboard push"] == statuses["slack events"] == 400
    assert stored_rows(served.data_dir) == before
    assert "Traceback" not in served.log.read_text()


def test_shallow_json_still_works(served: ServerProcess) -> None:
    body = json.dumps({"to": ["bo@example.org"], "subject": "Plan", "links": []}).encode()
    client = Browserless(served.url)
    status, created = client.json(
        "/api/v1/messages", method="POST", body=body, headers={**DEV, **JSON}
    )
    assert status == 201 and created["message_id"]


# valid Unicode at the boundary ------------------------------------------------------------
@pytest.mark.parametrize("half", SURROGATES)
def test_lone_surrogates_are_refused_in_every_field_and_nothing_is_stored(
    served: ServerProcess, browser: Browserless, half: str
) -> None:
    before = stored_rows(served.data_dir)
    client = Browserless(served.url)
    good = {"to": ["bo@example.org"], "subject": "Plan", "links": ["https://example.com/a"]}
    bodies = [
        {**good, "to": [f"b{half}o@example.org"]},
        {**good, "to": f"bo@exam{half}ple.org"},
        {**good, "subject": f"Pl{half}an"},
        {**good, "links": [f"https://example.com/{half}"]},
        {**good, "links": [f"https://exa{half}mple.com/"]},
        {**good, f"x{half}": 1},  # even in a key the API ignores
    ]
    for sent in bodies:
        body = json.dumps(sent).encode()  # ensure_ascii: the half as a \\uXXXX escape
        status, answer = client.json(
            "/api/v1/messages", method="POST", body=body, headers={**DEV, **JSON}
        )
        assert status == 400 and "Unicode" in answer["error"], (sent, answer)
    # add-on fields: a settings form and a compose form, as Google would post them
    for inputs in (
        {"email_to": {"stringInputs": {"value": [f"ana{half}@example.com"]}}},
        {"subject": {"stringInputs": {"value": [f"Hi {half}"]}}},
    ):
        event = {"commonEventObject": {"hostApp": "GMAIL", "formInputs": inputs}}
        for route in ("/addon/settings/save", "/addon/compose/track"):
            status, _, _ = client.request(
                route, method="POST", body=json.dumps(event).encode(), headers=DEV
            )
            assert status == 400, route
    # the dashboard's push subscription
    subscription = {"endpoint": f"https://fcm.googleapis.com/x{half}", "keys": {}}
    status, _, _ = browser.request(
        "/dashboard/push/subscriptions",
        method="POST",
        body=json.dumps(subscription).encode(),
        headers={**JSON, "X-CSRF-Token": csrf_of(browser)},
    )
    assert status == 400
    assert stored_rows(served.data_dir) == before
    # ...so no page can be poisoned: the user's pages still render
    for page in ("/dashboard/settings", "/dashboard/messages", "/dashboard/overview"):
        assert browser.request(page)[0] == 200, page


def test_a_settings_value_that_is_not_unicode_is_refused_by_every_writer(
    served: ServerProcess, browser: Browserless
) -> None:
    bad = "alice\udc80@example.com"
    result = run_cli("settings", "--user", USER, "--email-to", bad, data_dir=served.data_dir)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    form = f"csrf={csrf_of(browser)}&notify=first-open&email_to=alice%ED%B3%80%40example.com"
    status, _, _ = browser.request(
        "/dashboard/settings",
        method="POST",
        body=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status in (200, 400)  # the browser's bytes are decoded as text, never stored raw
    assert browser.request("/dashboard/settings")[0] == 200
    shown = served.cli_json("settings", "--user", USER)
    assert shown["email_to"] in (None, "")


# cursors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b"[" * 1100 + b"]" * 1100).decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"s":' * 40 + b"1" + b"}" * 40).decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"s":"sent","k":"0001-01-01T00:00:00Z","i":"x"}').decode(),
        base64.urlsafe_b64encode(b'["0001-01-01T00:00:00Z","x"]').decode(),
        base64.urlsafe_b64encode(b'["9999-12-31T23:59:59+14:00",{"a":1}]').decode(),
        base64.urlsafe_b64encode(b'"\\ud800"').decode(),
        "A" * 5000,
        "%%%",
    ],
)
def test_bad_cursors_are_400_on_every_listing(served: ServerProcess, cursor: str) -> None:
    client = Browserless(served.url)
    message = served.cli_json("track", "--sender", USER, "--to", "bo@example.org")["message_id"]
    for path in (
        "/api/v1/messages?cursor=",
        f"/api/v1/messages/{message}/events?cursor=",
        "/api/v1/messages?sort=sent&cursor=",
    ):
        status, _, _ = client.request(path + cursor, headers=DEV)
        assert status == 400, path


@pytest.mark.parametrize(
    "cursor",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59|x",
        "2026-13-45T99:99:99Z",
        "x" * 1000,
        "%00",
        "%ED%A0%80",
    ],
)
def test_bad_live_cursors_are_400_on_poll_and_stream(
    served: ServerProcess, browser: Browserless, cursor: str
) -> None:
    client = Browserless(served.url)
    assert client.request(f"/api/v1/events?cursor={cursor}", headers=DEV)[0] == 400
    assert browser.request(f"/dashboard/live/poll?cursor={cursor}")[0] == 400
    status, _, _ = browser.request(f"/dashboard/live/stream?cursor={cursor}", timeout=5)
    assert status == 400


# the CLI and start-up --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        [b"track", b"--sender", b"al\xffice@example.com", b"--to", b"bo@example.org"],
        [b"track", b"--sender", USER.encode(), b"--to", b"b\xc3o@example.org"],
        [b"track", b"--sender", USER.encode(), b"--to", b"bo@x.org", b"--subject", b"\xed\xa0\x80"],
        [b"settings", b"--user", USER.encode(), b"--email-to", b"\x80@example.com"],
        [b"stats", b"\xfe\xff"],
    ],
)
def test_cli_arguments_that_are_not_utf8_are_one_line_and_exit_2(
    tmp_path: Path, args: list[bytes]
) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [*(a.encode() for a in MAILBEACON), *args],
        env=cli_env(data),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr
    assert not data.exists()


@pytest.mark.parametrize(
    "key",
    [
        "garbage!!",
        "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----",
        base64.urlsafe_b64encode(b"\x00" * 31).decode(),
        base64.urlsafe_b64encode(b"\xff" * 32).decode().rstrip("="),  # 32 bytes, not a P-256 key
    ],
)
def test_a_bad_vapid_key_is_refused_at_start_with_one_line(tmp_path: Path, key: str) -> None:
    done = subprocess.run(
        [*MAILBEACON, "serve", "--port", "0"],
        env=cli_env(tmp_path / "data", {"MAILBEACON_VAPID_PRIVATE_KEY": key}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "VAPID" in done.stderr, done.stderr


# rate-limited warnings --------------------------------------------------------------------------
def test_a_flood_of_unauthenticated_calls_writes_a_few_lines_not_thousands(
    served: ServerProcess,
) -> None:
    lines_before = len(served.log.read_text().splitlines())
    client = Browserless(served.url)
    paths = [
        ("POST", "/addon/homepage", {"Authorization": "Bearer abc.def.ghi"}),
        ("POST", "/chat", {"Authorization": "Bearer abc.def.ghi"}),
        ("GET", "/api/v1/messages", {"Authorization": "Bearer nope"}),
        ("POST", "/slack/events", {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "1"}),
        ("GET", "/p/garbage.gif", {}),
        ("GET", "/c/garbage", {}),
    ]
    threads = []
    for n in range(4):

        def flood(offset: int = n) -> None:
            for i in range(300):
                method, path, headers = paths[(i + offset) % len(paths)]
                client.request(path, method=method, body=b"{}" if method == "POST" else None,
                               headers=headers)  # fmt: skip

        threads.append(threading.Thread(target=flood))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = len(served.log.read_text().splitlines()) - lines_before
    assert written < 100, written  # 1,200 refused calls


# a certificate URL that trickles ----------------------------------------------------------------
class Trickle:
    """A certificate URL that answers its headers, then one byte every ``every`` seconds."""

    def __init__(self, every: float = 0.3) -> None:
        self.every = every
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connections = 0
        self.closed_by_peer: list[float] = []
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100000\r\n\r\n")  # fmt: skip
                while not self.stopping.wait(self.every):
                    conn.sendall(b" ")
            except OSError:
                self.closed_by_peer.append(time.monotonic())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/oauth2/v1/certs"

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()


def test_a_trickling_certificate_url_holds_no_request_past_its_deadline(tmp_path: Path) -> None:
    trickle, issuer = Trickle(), TokenIssuer()  # real RS256 tokens; their keys never arrive
    deadline = 1.0
    server = ServerProcess(
        tmp_path / "data",
        env={
            "MAILBEACON_GOOGLE_CERTS_URL": trickle.url,
            "MAILBEACON_CERT_TIMEOUT": str(deadline),
            "MAILBEACON_SHUTDOWN_TIMEOUT": "2",
        },
    ).start()
    client = Browserless(server.url)
    try:
        token = issuer.token(audience=server.url + "/chat", email="chat@system.gserviceaccount.com")
        started = time.monotonic()
        status, _, _ = client.request(
            "/chat", method="POST", body=b"{}", headers={"Authorization": f"Bearer {token}"}
        )
        took = time.monotonic() - started
        assert status == 401 and took < deadline + 1.5, took
        wait_until(lambda: trickle.closed_by_peer, timeout=5)  # the download was cut off
        assert trickle.closed_by_peer[0] - started < deadline + 1.5
        # Meanwhile and after, the pixel answered; and a new trickle cannot hold the exit.
        tracked = server.cli_json("track", "--sender", USER, "--to", "bo@example.org")
        assert client.request(tracked["pixel_url"].removeprefix(server.url))[0] == 200
        issued_again = threading.Thread(
            target=client.request,
            args=("/chat",),
            kwargs={
                "method": "POST",
                "body": b"{}",
                "headers": {"Authorization": f"Bearer {token}"},
            },
            daemon=True,
        )
        issued_again.start()
        assert server.proc is not None
        proc = server.proc
        stopping = time.monotonic()
        proc.terminate()
        proc.wait(timeout=10)
        assert time.monotonic() - stopping < 4 and proc.returncode == 0
    finally:
        server.stop()
        trickle.stop()
        issuer.stop()


# storage unavailable: a full disk ---------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "6m") as mount:
        yield mount


def fill(path: Path) -> None:
    with (path / "filler").open("wb", buffering=0) as f:
        for size in (65536, 512, 1):
            try:
                while f.write(b"\0" * size):
                    pass
            except OSError:
                pass


def browser_key() -> str:
    """A browser's p256dh: an uncompressed P-256 point, base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.urlsafe_b64encode(point).decode().rstrip("=")


def test_a_full_disk_answers_503_on_every_write_never_500(small_disk: Path) -> None:
    server = ServerProcess(
        small_disk / "data",
        extra_args=("--insecure-dev-auth",),
        env={"MAILBEACON_WORKER": "off", "MAILBEACON_SQLITE_BUSY_MS": "500"},
    ).start()
    try:
        browser = Browserless(server.url)
        browser.sign_in(USER)
        csrf = csrf_of(browser)
        # Fill the WAL's room too: a few writes land in pages SQLite already has.
        fill(small_disk)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        results: dict[str, Any] = {}
        for round_ in range(3):
            other = Browserless(server.url)
            _, page, _ = other.request("/dashboard/signin")
            found = re.search(rb'name="csrf" value="([^"]+)"', page)
            assert found
            results = {
                "sign-in": other.request(
                    "/dashboard/signin/dev",
                    method="POST",
                    body=f"email=bo{round_}@example.com&csrf={found.group(1).decode()}".encode(),
                    headers=form,
                )[0],
                "token": browser.request(
                    "/dashboard/settings/tokens",
                    method="POST",
                    body=f"csrf={csrf}&name=ci{round_}".encode(),
                    headers=form,
                )[0],
                "push": browser.request(
                    "/dashboard/push/subscriptions",
                    method="POST",
                    body=json.dumps(
                        {
                            "endpoint": f"https://fcm.googleapis.com/fcm/send/x{round_}",
                            "keys": {"p256dh": browser_key(), "auth": "A" * 22},
                        }
                    ).encode(),
                    headers={**JSON, "X-CSRF-Token": csrf},
                )[0],
                "api track": Browserless(server.url).request(
                    "/api/v1/messages",
                    method="POST",
                    body=b'{"to": ["bo@example.org"]}',
                    headers={**DEV, **JSON},
                )[0],
                "settings": browser.request(
                    "/dashboard/settings",
                    method="POST",
                    body=f"csrf={csrf}&notify=every-open&timezone=UTC&strictness=balanced".encode(),
                    headers=form,
                )[0],
            }
            if 503 in results.values():
                break
        assert 500 not in results.values(), results
        assert set(results.values()) == {503}, results
        signout = browser.request(
            "/dashboard/signout", method="POST", body=f"csrf={csrf}".encode(), headers=form
        )[0]
        assert signout in (303, 503)
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


# numbers, links, times and header values of other spellings -------------------------------
NOT_ASCII_DIGITS = ("%C2%B2", "%D9%A3", "9" * 5000)  # "²" (isdigit, int refuses), "٣", long


def test_numbers_that_are_not_a_few_ascii_digits_are_refused_never_500(
    served: ServerProcess, browser: Browserless
) -> None:
    client = Browserless(served.url)
    status, created = client.json(
        "/api/v1/messages",
        method="POST",
        body=json.dumps({"to": ["bo@example.org"], "subject": "Numbers"}).encode(),
        headers={**DEV, **JSON},
    )
    assert status == 201
    message = created["message_id"]
    before = stored_rows(served.data_dir)
    for value in NOT_ASCII_DIGITS:
        assert client.request(f"/api/v1/messages?limit={value}")[0] == 401  # signed out
        assert client.request(f"/api/v1/messages?limit={value}", headers=DEV)[0] in (200, 400)
        assert browser.request(f"/dashboard/messages?limit={value}")[0] in (200, 400)
        form = f"days={value}&csrf={csrf_of(browser)}".encode()
        status, page, _ = browser.request(
            f"/dashboard/messages/{message}/reminder", method="POST", body=form
        )
        assert status == 400 and b"how many days" in page, value
        decoded = urllib.parse.unquote(value)
        event = {
            "commonEventObject": {
                "hostApp": "GMAIL",
                "formInputs": {"remind_days": {"stringInputs": {"value": [decoded]}}},
            }
        }
        for route in ("/addon/compose/track", "/addon/compose/link"):
            status, _, _ = client.request(
                route, method="POST", body=json.dumps(event).encode(), headers=DEV
            )
            assert status in (200, 400), (route, value, status)
    assert stored_rows(served.data_dir) == before
    assert "Traceback" not in served.log.read_text()


@pytest.mark.parametrize(
    "link",
    [
        "http://[::1",
        "http://[zz]/",
        "http://a]b/",
        "http://example.com:99999/",
        "http://x:abc/",
        "http://[::1]:99999999/",
        "https://example.com:-1/",
    ],
)
def test_links_that_cannot_be_followed_are_refused_never_stored(
    served: ServerProcess, link: str
) -> None:
    before = stored_rows(served.data_dir)
    client = Browserless(served.url)
    body = json.dumps({"to": ["bo@example.org"], "links": [link]}).encode()
    status, answer = client.json(
        "/api/v1/messages", method="POST", body=body, headers={**DEV, **JSON}
    )
    assert status == 400 and "link" in answer["error"], answer
    event = {"commonEventObject": {"hostApp": "GMAIL", "invokedFunction": link}}
    status, _, _ = client.request(
        "/addon", method="POST", body=json.dumps(event).encode(), headers=DEV
    )
    assert status in (200, 400, 404), status
    assert stored_rows(served.data_dir) == before
    assert "Traceback" not in served.log.read_text()


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00"]
)
def test_times_off_the_calendar_we_keep_are_refused(served: ServerProcess, when: str) -> None:
    """A send time in year 1 used to be stored, and every page showing it to someone in a
    zone behind UTC answered 500 from then on."""
    client = Browserless(served.url)
    status, created = client.json(
        "/api/v1/messages",
        method="POST",
        body=json.dumps({"to": ["bo@example.org"]}).encode(),
        headers={**DEV, **JSON},
    )
    assert status == 201
    before = stored_rows(served.data_dir)
    body = json.dumps({"to": ["bo@example.org"], "sent_at": when}).encode()
    status, answer = client.json(
        "/api/v1/messages", method="POST", body=body, headers={**DEV, **JSON}
    )
    assert status == 400 and "sent_at" in answer["error"], answer
    status, answer = client.json(
        f"/api/v1/messages/{created['message_id']}/reminder",
        method="POST",
        body=json.dumps({"due_at": when}).encode(),
        headers={**DEV, **JSON},
    )
    assert status == 400 and "due_at" in answer["error"], answer
    result = run_cli(
        "track", "--sender", USER, "--to", "bo@example.org", "--sent-at", when,
        data_dir=served.data_dir,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert stored_rows(served.data_dir) == before


def test_header_values_outside_ascii_are_refused_never_500(
    served: ServerProcess, browser: Browserless
) -> None:
    """Cookies, a CSRF token and Slack's signature as clients may send them (latin-1 bytes on
    the wire): each is a forged value, answered as one."""
    client = Browserless(served.url)
    for cookie in ("__session=\xe9.x", "__session=\xff", "a=\xff", "__session=\xe9\xe9.\xe9"):
        status, _, _ = client.request("/dashboard/signin", headers={"Cookie": cookie})
        assert status == 200, cookie  # the sign-in page: no session
        status, _, _ = client.request("/dashboard/messages", headers={"Cookie": cookie})
        assert status in (302, 303, 401), cookie
        status, _, _ = client.request("/dashboard/live/stream", headers={"Cookie": cookie})
        assert status == 401, cookie
    for token in ("%C3%A9", "%ED%A0%80", "\xe9"):
        form = f"email_to=bo%40example.org&csrf={token}".encode("latin-1")
        status, _, _ = browser.request("/dashboard/settings", method="POST", body=form)
        assert status in (400, 403), (token, status)
    body = b"{}"
    for signature in ("v0=\xe9", "v0=\xff\xfe", "\xe9" * 64):
        headers = {**slack_signed(body), "X-Slack-Signature": signature}
        for route in ("/slack/events", "/slack/interactivity"):
            status, _, _ = client.request(route, method="POST", body=body, headers=headers)
            assert status == 401, (route, signature, status)
    assert "Traceback" not in served.log.read_text()

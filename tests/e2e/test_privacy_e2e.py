"""Export and delete, end to end: `mailbeacon serve` as a process and the CLI, on SQLite and on
Firestore (its emulator), with hits from raw client addresses behind a trusted proxy. Every
stored field, every file in the data dir and every log line is searched for those addresses."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ServerProcess, run_cli, wait_until

CLIENTS = ("198.51.100.23", "203.0.113.77", "2001:db8:85a3::8a2e:370:7334")
"""Raw addresses the recipients' requests come from (documentation ranges)."""
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.0 Safari/605.1.15"
)
SENT = "2026-01-05T10:00:00Z"


def fetch(url: str, client: str) -> tuple[int, bytes]:
    headers = {"User-Agent": BROWSER, "X-Forwarded-For": f"{client}, 10.0.0.1"}
    request = urllib.request.Request(url, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:  # type: ignore[override]
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(params=["sqlite", "firestore"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    env: dict[str, str] = {}
    if request.param == "firestore":
        emulators = request.getfixturevalue("emulators")
        emulators.reset_firestore()
        env = {**emulators.env, "MAILBEACON_STORE": "firestore"}
    # Behind one proxy (as on Cloud Functions): the client is the last-but-one entry.
    proc = ServerProcess(
        data_dir=tmp_path / "data", extra_args=("--trust-proxy", "2"), env=env
    ).start()
    proc.store = request.param  # type: ignore[attr-defined]
    yield proc
    proc.stop()


def stored_texts(server: ServerProcess) -> Iterator[str]:
    """Every stored field, as text: each column of each SQLite table, or each Firestore
    document of every collection (recursively)."""
    if server.store == "sqlite":  # type: ignore[attr-defined]
        db = sqlite3.connect(server.data_dir / "mailbeacon.db")
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                for value in row:
                    yield value.hex() if isinstance(value, bytes) else str(value)
        db.close()
        return
    from google.cloud import firestore

    from tests.support.emulators import PROJECT

    client = firestore.Client(project=PROJECT)

    def walk(collections: Any) -> Iterator[str]:
        for collection in collections:
            for ref in collection.list_documents():
                snap = ref.get()
                yield ref.path
                if snap.exists:
                    yield json.dumps(snap.to_dict(), default=str)
                yield from walk(ref.collections())

    yield from walk(client.collections())


def stored_events(server: ServerProcess) -> int:
    """Events the server's worker has stored (a hit waits in its spool until then)."""
    if server.store == "sqlite":  # type: ignore[attr-defined]
        with sqlite3.connect(server.data_dir / "mailbeacon.db") as db:
            return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    from google.cloud import firestore

    from tests.support.emulators import PROJECT

    return len(list(firestore.Client(project=PROJECT).collection("events").stream()))


def test_export_then_delete_leaves_nothing_and_no_raw_address_anywhere(
    server: ServerProcess, tmp_path: Path
) -> None:
    ann = [
        server.cli_json("track", "--sender", "ann@acme.test", "--to", "bo@example.org",
                        "--subject", f"Ann's deal {i}", "--link", "https://example.com/offer",
                        "--sent-at", SENT)
        for i in range(2)
    ]  # fmt: skip
    ben = server.cli_json(
        "track", "--sender", "ben@acme.test", "--to", "cy@example.org", "--subject", "Ben's",
        "--sent-at", SENT,
    )  # fmt: skip
    assert (
        server.cli("settings", "--user", "ann@acme.test", "--email-to", "ann@acme.test").returncode
        == 0
    )
    for made, client in zip((*ann, ben), CLIENTS, strict=True):
        status, body = fetch(made["pixel_url"], client)
        assert status == 200 and body.startswith(b"GIF89a")
    assert fetch(ann[0]["links"][0]["tracked_url"], CLIENTS[2])[0] == 302

    # export: the same numbers stats shows, with every event
    out = tmp_path / "ann.json"
    result = server.cli("export", "--user", "Ann@Acme.test", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    exported = json.loads(out.read_text())
    assert set(exported) == {"user", "settings", "messages"}
    assert exported["user"] == "ann@acme.test"
    assert exported["settings"]["email_to"] == "ann@acme.test"
    by_id = {m["message_id"]: m for m in exported["messages"]}
    assert set(by_id) == {m["message_id"] for m in ann}
    for made in ann:
        stats = server.cli_json("stats", made["message_id"])
        assert by_id[made["message_id"]]["events"] == stats["events"]
        assert by_id[made["message_id"]]["opens"] == stats["opens"]
    assert sum(len(m["events"]) for m in exported["messages"]) == 3

    # no raw address in any stored field, any file of the data dir, any log line
    texts = list(stored_texts(server))
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("server-") for p in files)  # the server's log is among them
    for client in CLIENTS:
        assert not [t for t in texts if client in t], client
        for path in files:
            assert client.encode() not in path.read_bytes(), (client, path)

    # delete: everything of Ann's goes, Ben's stays (the worker has stored every hit by then)
    wait_until(lambda: stored_events(server) == 4)
    assert server.cli("delete", "--user", "ann@acme.test").returncode == 2  # needs --yes
    result = server.cli("delete", "--user", "ann@acme.test", "--yes")
    assert result.returncode == 0, result.stderr
    assert "messages: 2" in result.stdout and "events: 3" in result.stdout
    assert "settings: 1" in result.stdout

    status, body = fetch(ann[0]["pixel_url"], CLIENTS[0])
    assert status == 200 and body.startswith(b"GIF89a")  # the pixel still answers
    assert server.cli_json("stats", ben["message_id"])["opens"]["human"] == 1  # drains hits
    for made in ann:
        gone = server.cli("stats", made["message_id"])
        assert gone.returncode == 1 and "no tracked message" in gone.stderr
    empty = server.cli("export", "--user", "ann@acme.test")
    assert json.loads(empty.stdout)["messages"] == []
    leftovers = [
        t
        for t in stored_texts(server)
        if "ann@acme.test" in t or "Ann's deal" in t or any(m["message_id"] in t for m in ann)
    ]
    assert leftovers == []
    kept = run_cli("export", "--user", "ben@acme.test", data_dir=server.data_dir, env=server.env)
    assert [m["message_id"] for m in json.loads(kept.stdout)["messages"]] == [ben["message_id"]]

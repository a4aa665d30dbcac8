"""Issue 10 at the level of the module where each bug lived: the same faults as the hostile
e2e suite (tests/e2e/test_hostile_server.py), with the clock, the disk and the Slack/SMTP
servers under the test's control."""

from __future__ import annotations

import ast
import email
import json
import logging
import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from functions.standins.webhooks import WebhookReceiver
from mailbeacon.errors import InvalidInput, InvalidToken, StoreUnavailable
from mailbeacon.hits import client_address, reduce_via
from mailbeacon.model import Message
from mailbeacon.redact import install_log_redaction, redact
from mailbeacon.store.sqlite import Database, SqliteStore
from mailbeacon.tokens import Keyring, TokenSigner, new_message_id
from mailbeacon.validation import check_track
from notifier.slack_install import STATES, StoreStateStore
from tests.support.smtp import Inbox, SmtpServer
from tests.support.tmpfs import small_tmpfs

from .conftest import START, Rig

ROOT = Path(__file__).resolve().parents[2]


# 1 -------------------------------------------------------------------------------------------
def test_the_nth_last_forwarded_entry_of_the_whole_header_is_the_client() -> None:
    padded = ", ".join(["198.51.100.66"] * 112) + " " * 60 + ", 203.0.113.9"
    assert str(client_address("10.0.0.1", padded, 1)) == "203.0.113.9"
    assert str(client_address("10.0.0.1", "," * 1024 + "203.0.113.10", 1)) == "203.0.113.10"
    two = "6.6.6.6, " * 5000 + "203.0.113.11, 10.0.0.2"
    assert str(client_address("10.0.0.1", two, 2)) == "203.0.113.11"


# 5 -------------------------------------------------------------------------------------------
def test_a_token_has_one_spelling() -> None:
    signer = TokenSigner(Keyring.parse("1:" + "k" * 32))
    token = signer.pixel(new_message_id())
    assert signer.verify(token).kind == "open"
    spare_bits = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(token[-1])
    variants = [token + "=", token + "====", token[:4] + "*" + token[4:], token + "\n"]
    if spare_bits:
        variants.append(token[:-1] + spare_bits)
    for variant in variants:
        with pytest.raises(InvalidToken):
            signer.verify(variant)


# 6 -------------------------------------------------------------------------------------------
def test_oauth_states_expire_are_purged_and_need_the_browser_cookie(make_rig) -> None:  # type: ignore[no-untyped-def]
    rig: Rig = make_rig()
    states = StoreStateStore(rig.app.store, rig.clock, per_client=3)
    first = states.issue(client="198.51.100.0/24")
    assert not states.consume(first, None) and not states.consume(first, "other")
    assert states.consume(first, first) and not states.consume(first, first)  # single use
    real = states.issue(client="203.0.113.0/24")
    flood = []
    for _ in range(50):  # one crawler: it replaces its own states, never anyone else's
        flood.append(states.issue(client="198.51.100.0/24"))
        rig.clock.advance(seconds=1)
    assert len(rig.app.store.list_records(STATES)) == 4  # the crawler's last 3 and the real one
    assert not states.consume(flood[0], flood[0])  # given up for a newer one
    assert states.consume(flood[-1], flood[-1])
    other = [states.issue(client=f"192.0.2.{n}") for n in range(3)]  # other clients still can
    assert states.consume(real, real) and all(states.consume(s, s) for s in other)
    stale = states.issue(client="192.0.2.0/24")
    rig.clock.advance(minutes=11)
    fresh = states.issue(client="203.0.113.0/24")  # expired rows are purged, not just ignored
    assert [key for key, _ in rig.app.store.list_records(STATES)] == [fresh]
    assert not states.consume(stale, stale)


def test_oauth_states_refuse_only_past_the_global_ceiling(make_rig) -> None:  # type: ignore[no-untyped-def]
    rig: Rig = make_rig()
    states = StoreStateStore(rig.app.store, rig.clock, max_live=4)
    for n in range(4):  # a flood from four networks at once fills the table
        states.issue(client=f"192.0.2.{n}")
    with pytest.raises(InvalidInput):
        states.issue(client="198.51.100.0/24")
    rig.clock.advance(minutes=10)  # they expire and are purged
    assert states.issue(client="198.51.100.0/24")


# 7 -------------------------------------------------------------------------------------------
@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "2m") as mount:
        yield mount


def test_a_full_disk_is_a_typed_store_error(full_disk: Path) -> None:
    store = SqliteStore(Database(full_disk / "mailbeacon.db"))
    try:
        with (full_disk / "filler").open("wb", buffering=0) as f:
            for size in (65536, 512, 1):
                try:
                    while f.write(b"\0" * size):
                        pass
                except OSError:
                    pass
        with pytest.raises(StoreUnavailable) as caught:
            for i in range(2000):  # the WAL's last free pages go first
                store.put_record("fill", f"k{i}", {"v": "x" * 2000})
        assert "disk full" in str(caught.value)
        (full_disk / "filler").unlink()
        store.put_record("fill", "after", {"v": 1})  # the connection is usable again
        assert store.get_record("fill", "after") == {"v": 1}
    finally:
        store.close()


# 9 -------------------------------------------------------------------------------------------
def test_redaction_keeps_hosts_and_drops_secrets() -> None:
    text = (
        "POST https://hooks.slack.com/services/T0/B0/SECRET1 failed; "
        "url: /v1/spaces/AAA/messages?key=SECRET2&token=SECRET3; token xoxb-1-2-SECRET4; "
        "/services/T1/B1/SECRET5 and Authorization: Bearer SECRET6"
    )
    cleaned = redact(text)
    assert "hooks.slack.com" in cleaned and "/v1/spaces/AAA/messages" in cleaned
    for n in range(1, 7):
        assert f"SECRET{n}" not in cleaned


def test_slack_sdk_retry_logging_is_redacted(caplog: pytest.LogCaptureFixture, make_rig) -> None:  # type: ignore[no-untyped-def]
    install_log_redaction()
    hook = WebhookReceiver(default=(500, {}, b"oops"))
    try:
        rig: Rig = make_rig()
        rig.settings(slack_webhook=f"{hook.url}/services/T000/B000/HOOKSECRET")
        with caplog.at_level(logging.DEBUG):
            rig.open(rig.track())
            rig.settle()
        assert len(hook.requests) == 3  # slack_sdk retried twice, logging each retry
    finally:
        hook.stop()
    assert "slack_sdk" in caplog.text and "HOOKSECRET" not in caplog.text
    stored = json.dumps(rig.problems()) + json.dumps(rig.app.bus.dead_letters())  # type: ignore[attr-defined]
    with rig.app.bus.db.write() as conn:  # type: ignore[attr-defined]
        stored += json.dumps(conn.execute("SELECT last_error FROM outbox").fetchall())
    assert "HOOKSECRET" not in stored and "webhook answered 500" in stored


# 11 ------------------------------------------------------------------------------------------
def test_via_keeps_proxies_and_reduces_addresses() -> None:
    assert reduce_via("1.1 203.0.113.9:3128 (squid/4.1)") == "1.1 203.0.113.0/24 (squid/4.1)"
    assert reduce_via("1.0 fred, 1.1 p.example.com (Apache/1.1)") == (
        "1.0 fred, 1.1 p.example.com (Apache/1.1)"
    )


@pytest.mark.parametrize(
    ("via", "kept"),
    [
        ("1.1 proxy (for 198.51.100.23.)", "1.1 proxy (for 198.51.100.0/24.)"),  # trailing dot
        ("1.1 cafe.198.51.100.23", "1.1 cafe.198.51.100.0/24"),  # hex letters touching it
        ("1.1 gw (ab198.51.100.23cd)", "1.1 gw (ab198.51.100.0/24cd)"),
        ("1.1 198.051.100.023:8080", "1.1 198.51.100.0/24:8080"),  # leading zeros, a port
        ("1.1 [2001:db8:7:8::23]:443", "1.1 [2001:db8:7::/48]:443"),  # brackets
        ("1.1 fe80::1234:23%eth0 (x)", "1.1 fe80::/48%eth0 (x)"),  # a zone
        ("1.1 ::ffff:198.51.100.23", "1.1 198.51.100.0/24"),  # IPv4 in IPv6
        ("1.1 2001:db8:7:8::23.", "1.1 2001:db8:7::/48"),
        ("1.1 1.198.51.100.23", "1.1 (address)"),  # not one address: hidden whole
        ("1.1 deadbeef2001:db8::23", "1.1 (address)"),
        ("HTTP/1.1 p.example.com, 2.0 q", "HTTP/1.1 p.example.com, 2.0 q"),
    ],
)
def test_via_reduces_every_spelling_of_an_address(via: str, kept: str) -> None:
    reduced = reduce_via(via)
    assert reduced == kept
    for raw in ("198.51.100.23", "51.100.23", "100.023", "db8:7:8", "1234:23"):
        assert raw not in reduced


# 12 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subject", ["a\nb", "a\rb", "tab\tsep", "nul\x00", "ls\u2028x"])
def test_subjects_with_control_characters_are_refused(subject: str) -> None:
    with pytest.raises(InvalidInput):
        check_track(sender="a@example.com", recipients=["b@example.org"], subject=subject)


def test_a_long_subject_is_refused_not_cut() -> None:
    with pytest.raises(InvalidInput):
        check_track(sender="a@example.com", recipients=["b@example.org"], subject="x" * 100_000)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    server = SmtpServer().start()
    yield server.inbox, server.port
    server.stop()


def test_a_stored_multiline_subject_still_gets_its_email_alert(make_rig, smtp) -> None:  # type: ignore[no-untyped-def]
    inbox, port = smtp
    rig: Rig = make_rig(smtp_host="127.0.0.1", smtp_port=str(port))
    rig.settings(email_to="ana+alerts@example.com")
    # A row written before subjects were checked (the store takes what it is given).
    old = Message(
        id=new_message_id(),
        owner="ana@example.com",
        recipients=("bo@example.org",),
        subject="Line one\nLine two",
        created_at=START,
        sent_at=START - timedelta(days=1),
    )
    rig.app.store.add_message(old)
    path = rig.app.urls.pixel(old.id).removeprefix(rig.app.urls.base_url)
    assert rig.web.get(path, headers={"User-Agent": "Mozilla/5.0 Chrome/126.0"}).status_code == 200
    rig.settle()
    [envelope] = inbox.messages
    message = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert "Line one Line two" in message["Subject"] and rig.problems() == ()


# 13 ------------------------------------------------------------------------------------------
def test_an_endless_retry_after_is_recorded_and_not_parked(make_rig) -> None:  # type: ignore[no-untyped-def]
    hook = WebhookReceiver(default=(429, {"Retry-After": "inf"}, b"rate_limited"))
    try:
        rig: Rig = make_rig()
        rig.settings(slack_webhook=f"{hook.url}/services/T/B/X")
        rig.open(rig.track())
        rig.settle()
    finally:
        hook.stop()
    assert any("slack-webhook" in p and "longer than we keep an alert" in p for p in rig.problems())
    assert rig.app.bus.pending() == 0  # type: ignore[attr-defined]


# 17 ------------------------------------------------------------------------------------------
def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """The distributions ``names`` pull in, without extras (from the installed metadata)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def test_every_package_the_notifier_and_addon_import_is_a_base_dependency() -> None:
    """`pip install .` (no extras) must carry every package the notifier and the add-on import
    (also the ones imported lazily, inside functions): a Slack webhook accepted by a base
    install must be postable."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(req) for req in project["dependencies"]}
    imported: set[str] = set()
    for folder in ("notifier", "addon", "mailbeacon"):
        for path in (ROOT / folder).rglob("*.py"):
            if "store/firestore" in str(path) or "bus/pubsub" in str(path):
                continue  # the cloud adapters: their SDKs are the optional `cloud` extra
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module.split(".")[0])
    owners = packages_distributions()
    imported.discard("google")  # a namespace shared by google-auth and the cloud SDKs
    needed = {
        _name(dist) for top in imported for dist in owners.get(top, []) if dist != "mailbeacon"
    }
    installable = _closure(base)  # what `pip install .` brings, dependencies included
    assert needed <= installable, needed - installable
    assert {"slack-sdk", "google-api-python-client"} <= base
    assert not any(req.startswith("google-cloud-firestore") for req in project["dependencies"])

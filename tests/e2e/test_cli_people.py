"""The command line as people use it: `list`, readable `stats` and `settings` in their own time
and words, help on every flag, `--version`, a suggestion for a typo, one-line refusals that
create nothing, and deleting one email. The CLI runs in process; the hits go through the real
web app and worker on the same data dir."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.bootstrap import App, bootstrap
from functions.cli.parser import build_parser
from functions.config import load_config
from mailbeacon.bus import HITS, NOTIFY
from tests.support.processes import TEST_DEFAULTS, run_cli

ANN = "ann@acme.test"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)
GMAIL_PREFETCH = (  # mailbeacon/classify/useragent.py: Gmail's pre-fetch, GMass [G1]
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
SENT = "2026-01-05T10:00:0{}Z"  # Deck, Pricing, Hello a second apart: "newest first" is defined


def cli(data: Path, *args: str) -> Any:
    result = run_cli(*args, data_dir=data)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    """A data dir with three of Ann's emails: one opened in Gmail, one clicked, one not."""
    data = tmp_path / "data"
    made = {}
    emails = (("Deck", None), ("Pricing", "https://example.com/p"), ("Hello", None))
    for second, (subject, link) in enumerate(emails):
        args = ["track", "--sender", ANN, "--to", "bo@example.org", "--subject", subject]
        args += ["--link", link] if link else []
        made[subject] = json.loads(cli(data, *args, "--sent-at", SENT.format(second), "--json"))
    config = load_config({**TEST_DEFAULTS}, data_dir=data, public_url="http://127.0.0.1:9")
    app: App = bootstrap(config)
    web = create_app(app).test_client()
    for url, ua in ((made["Deck"]["pixel_url"], GMAIL),
                    (made["Pricing"]["links"][0]["tracked_url"], CHROME)):  # fmt: skip
        web.get(url.removeprefix("http://127.0.0.1:9"), headers={"User-Agent": ua})
    assert app.worker is not None
    app.worker.drain([HITS, NOTIFY])
    app.close()
    (data / "made.json").write_text(json.dumps(made))
    yield data


def made(data: Path) -> dict[str, Any]:
    return json.loads((data / "made.json").read_text())


def test_list_shows_the_dashboards_rows_in_the_users_time(data: Path) -> None:
    cli(data, "settings", "--user", ANN, "--timezone", "America/New_York")
    text = cli(data, "list", "--user", ANN)
    header, _rule, *rows, _, summary = text.splitlines()
    assert header.split()[:4] == ["Sent", "Status", "Opens", "Clicks"]
    assert len(rows) == 3 and all(row.startswith("2026-01-05 05:00") for row in rows)  # New York
    assert "3 emails, times in America/New_York" in summary
    assert next(r for r in rows if "Pricing" in r).split()[2] == "Clicked"
    assert "Not opened yet" in next(r for r in rows if "Hello" in r)
    opened = json.loads(cli(data, "list", "--user", ANN, "--status", "opened", "--json"))
    assert sorted(m["subject"] for m in opened["messages"]) == ["Deck", "Pricing"]  # nested
    assert cli(data, "list", "--user", ANN, "--search", "pric").count("Pricing") == 1
    window = cli(data, "list", "--user", ANN, "--since", "2026-01-06")
    assert window.startswith("No tracked emails of ann@acme.test match")
    fresh = cli(data, "list", "--user", "zed@acme.test")
    assert "yet. Track one with: mailbeacon track" in fresh


def test_stats_read_like_the_dashboard_newest_first_and_local(data: Path) -> None:
    pricing = made(data)["Pricing"]["message_id"]
    text = cli(data, "stats", pricing, "--timezone", "Europe/Paris")
    assert "Status:   Clicked" in text and "Clicks:   1 by people, 0 by machines" in text
    assert "(times in Europe/Paris)" in text and "Link 1: https://example.com/p (1 click)" in text
    [line] = [ln for ln in text.splitlines() if "Click " in ln and "Person" in ln]
    assert "Chrome on Windows https://example.com/p" in line
    assert ".000" not in text and "UTC" not in text.split("Timeline")[1]  # no milliseconds
    data_json = json.loads(cli(data, "stats", pricing, "--json"))
    assert data_json["status"] == "clicked" and data_json["events"][0]["client"] == "other"


def test_stats_group_the_machine_hits_by_kind_and_reason_in_words(data: Path) -> None:
    """The timeline shows only the newest events: one line says what was not counted and why,
    read from the stored summary (the same counts as `stats --json`'s ``machine``)."""
    hello = made(data)["Hello"]
    config = load_config({**TEST_DEFAULTS}, data_dir=data, public_url="http://127.0.0.1:9")
    app: App = bootstrap(config)
    web = create_app(app).test_client()
    for ua in (GMAIL_PREFETCH, "Mozilla/5.0 (compatible; Barracuda link check)", "curl/8.5.0"):
        pixel = hello["pixel_url"].removeprefix("http://127.0.0.1:9")
        assert web.get(pixel, headers={"User-Agent": ua}).status_code == 200
    assert app.worker is not None
    app.worker.drain([HITS, NOTIFY])
    app.close()
    text = cli(data, "stats", hello["message_id"])
    [line] = [ln for ln in text.splitlines() if ln.startswith("  Machines: ")]
    assert line.startswith(
        "  Machines: 1 by bots or scripts, 1 by mail prefetch, 1 by security scanners; why: "
    )
    assert "Gmail fetching images ahead of the reader (1)" in line
    assert "a security scanner (1)" in line and "-" not in line.split("why:")[1]  # no codes
    stored = json.loads(cli(data, "stats", hello["message_id"], "--json"))["machine"]
    assert stored["by_verdict"] == {"bot": 1, "prefetch": 1, "scanner": 1}
    assert "  Machines:" not in cli(data, "stats", made(data)["Deck"]["message_id"])


def test_settings_print_names_and_words_never_python_values(data: Path) -> None:
    text = cli(data, "settings", "--user", ANN, "--quiet-hours", "22-7", "--notify", "clicks")
    assert "Tell me about:" in text and "Clicks only" in text
    assert "Quiet hours:" in text and "22:00 to 07:00" in text
    assert "Accuracy:" in text and "Balanced" in text and "Slack webhook:" in text
    assert "None" not in text and "{" not in text and "'start'" not in text
    assert "not set (UTC; the dashboard uses your browser's)" in text


def test_every_flag_has_help_and_the_version_is_printed(tmp_path: Path) -> None:
    def flags(parser: argparse.ArgumentParser, where: str) -> Iterator[tuple[str, Any]]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from flags(sub, f"{where} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield f"{where} {'/'.join(action.option_strings) or action.dest}", action.help

    missing = [name for name, text in flags(build_parser(), "mailbeacon") if not text]
    assert missing == []
    version = run_cli("--version", data_dir=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("mailbeacon 0.")


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("stast", "x"), "did you mean 'stats'?"),
        (("track", "--sneder", "a@b.c", "--to", "c@d.e"), "did you mean --sender?"),
        (("settings", "--user", ANN, "--notify", "evry-open"), "did you mean 'every-open'?"),
        (("list", "--user", ANN, "--stauts", "opened"), "did you mean --status?"),
    ],
)
def test_a_typo_gets_a_suggestion(tmp_path: Path, args: tuple[str, ...], hint: str) -> None:
    result = run_cli(*args, data_dir=tmp_path / "none")
    assert result.returncode == 2 and hint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_and_create_nothing(tmp_path: Path, data: Path) -> None:
    nowhere = tmp_path / "nonexistent"
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    for args in (
        ("stats", "m" * 16),
        ("list", "--user", ANN),
        ("export", "--user", ANN),
        ("settings", "--user", ANN),
        ("digest", "--user", ANN),
        ("track", "--sender", ANN, "--to", "bo@example.org", "--sent-at", future),
    ):
        result = run_cli(*args, data_dir=nowhere)
        assert result.returncode == 2, (args, result.stdout)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
        assert not nowhere.exists(), args
    assert "--sent-at is in the future" in result.stderr  # the API's rule (test_api.py)
    muted = run_cli("settings", "--user", ANN, "--mute", "not-an-email-of-ann", data_dir=data)
    assert muted.returncode == 1 and "no tracked message" in muted.stderr
    theirs = made(data)["Deck"]["message_id"]
    other = run_cli("settings", "--user", "zed@acme.test", "--mute", theirs, data_dir=data)
    assert other.returncode == 1  # Ann's email is not Zed's to mute
    shown = json.loads(cli(data, "settings", "--user", ANN, "--json"))
    assert shown["muted"] == []


def test_digest_says_the_mail_server_is_missing(data: Path) -> None:
    cli(data, "settings", "--user", ANN, "--email-to", ANN)
    text = cli(data, "digest", "--user", ANN)
    assert "need a mail server: set MAILBEACON_SMTP_HOST" in text


def test_one_email_is_deleted_with_its_counts(data: Path) -> None:
    pricing = made(data)["Pricing"]["message_id"]
    refused = run_cli("delete", "--message", pricing, data_dir=data)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = cli(data, "delete", "--message", pricing, "--yes")
    assert done.startswith(f"deleted email {pricing} of {ANN}, with its 1 open or click")
    assert "Pricing" not in cli(data, "list", "--user", ANN)
    gone = run_cli("stats", pricing, data_dir=data)
    assert gone.returncode == 1 and "no tracked message" in gone.stderr
    overview = json.loads(cli(data, "export", "--user", ANN))
    assert [m["subject"] for m in overview["messages"]] == ["Hello", "Deck"]

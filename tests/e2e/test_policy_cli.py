"""`mailbeacon policy` and each rule it sets, driven from outside: the CLI against the data dir
a running `mailbeacon serve` uses, and the server's HTTP API. The tests share one server, each
with its own domain."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.processes import ServerProcess

SENT = "2026-01-05T10:00:00Z"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("policy") / "data"
    proc = ServerProcess(data_dir=data, extra_args=("--insecure-dev-auth",)).start()
    yield proc
    proc.stop()


def api_track(server: ServerProcess, sender: str, to: list[str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url + "/api/v1/messages",
        data=json.dumps({"to": to}).encode(),
        headers={"Authorization": f"Bearer dev:{sender}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_policy_prints_defaults_changes_and_the_audit_log(server: ServerProcess) -> None:
    shown = server.cli_json("policy", "--domain", "Acme.test")
    assert shown == {
        "domain": "acme.test", "tracking": True, "track_internal": True, "retention_days": None,
        "channels": ["slack", "chat", "email", "browser"], "disclosure": None, "admins": [],
        "updated_at": None, "updated_by": None,
    }  # fmt: skip
    changed = server.cli_json(
        "policy", "--domain", "acme.test", "--tracking", "off", "--channels", "email,slack",
        "--retention-days", "30", "--disclosure", "Acme measures opens.",
        "--admin", "Boss@acme.test", "it@acme.test",
    )  # fmt: skip
    assert changed["tracking"] is False and changed["channels"] == ["slack", "email"]
    assert changed["admins"] == ["boss@acme.test", "it@acme.test"]
    assert changed["updated_by"] == "command line"
    server.cli_json("policy", "--domain", "acme.test", "--no-disclosure")
    text = server.cli("policy", "--domain", "acme.test").stdout
    assert "tracking: off" in text and "disclosure: \n" in text
    audit = server.cli_json("policy", "--domain", "acme.test", "--audit")
    assert [sorted(e["changes"]) for e in audit] == [
        ["admins", "channels", "disclosure", "retention_days", "tracking"],
        ["disclosure"],
    ]
    assert audit[1]["changes"]["disclosure"] == {"from": "Acme measures opens.", "to": None}
    assert all(e["actor"] == "command line" and e["at"].endswith("Z") for e in audit)
    lines = server.cli("policy", "--domain", "acme.test", "--audit").stdout.splitlines()
    assert len(lines) == 2 and "tracking: true -> false" in lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--domain", "not a domain"], "not a domain name"),
        (["--domain", "quiet.test", "--tracking", "maybe"], "expected on or off"),
        (["--domain", "quiet.test", "--retention-days", "0"], "1 to 36500"),
        (["--domain", "quiet.test", "--channels", "slack,pager"], "unknown channel 'pager'"),
        (["--domain", "quiet.test", "--admin", "nobody"], "not an email address"),
        (["--domain", "quiet.test", "--disclosure", "x", "--no-disclosure"], "not allowed with"),
        (["--domain", "quiet.test", "--disclosure", "x" * 301], "longer than 300"),
    ],
)
def test_bad_policy_arguments_are_one_line_exit_2_and_change_nothing(
    server: ServerProcess, args: list[str], says: str
) -> None:
    result = server.cli("policy", *args)
    assert result.returncode == 2 and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.cli_json("policy", "--domain", "quiet.test", "--audit") == []


def test_each_rule_takes_effect_on_track_the_api_and_settings(server: ServerProcess) -> None:
    track = ["track", "--sender", "ann@rules.test", "--sent-at", SENT]
    server.cli_json("policy", "--domain", "rules.test", "--tracking", "off")
    refused = server.cli(*track, "--to", "bo@example.org")
    assert refused.returncode == 2
    assert refused.stderr == "mailbeacon: tracking is turned off for rules.test by its admins\n"
    status, body = api_track(server, "ann@rules.test", ["bo@example.org"])
    assert status == 400 and body == {
        "error": "tracking is turned off for rules.test by its admins"
    }

    server.cli_json(
        "policy", "--domain", "rules.test", "--tracking", "on", "--track-internal", "off"
    )
    inside = server.cli(*track, "--to", "ben@rules.test")
    assert inside.returncode == 2 and "every recipient is inside" in inside.stderr
    assert api_track(server, "ann@rules.test", ["ben@rules.test"])[0] == 400
    assert server.cli(*track, "--to", "ben@rules.test", "--to", "bo@example.org").returncode == 0

    server.cli_json("policy", "--domain", "rules.test", "--disclosure", "Rules <measures> opens")
    made = server.cli_json(*track, "--to", "bo@example.org")
    assert "Rules &lt;measures&gt; opens</p><img" in made["html"]
    status, body = api_track(server, "ann@rules.test", ["bo@example.org"])
    assert status == 201 and "Rules &lt;measures&gt; opens" in body["html"]

    server.cli_json("policy", "--domain", "rules.test", "--channels", "email")
    chat = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k"
    refused = server.cli("settings", "--user", "ann@rules.test", "--chat-webhook", chat)
    assert refused.returncode == 2
    assert "chat_webhook: rules.test's admins do not allow alerts by chat" in refused.stderr
    assert server.cli_json("settings", "--user", "ann@rules.test")["chat_webhook"] is None
    allowed = server.cli("settings", "--user", "ann@rules.test", "--email-to", "ann@rules.test")
    assert allowed.returncode == 0
    # Other domains are not affected by rules.test's policy.
    assert (
        server.cli("track", "--sender", "zed@other.test", "--to", "zed@other.test").returncode == 0
    )

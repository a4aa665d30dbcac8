"""The command as a real process: the `mailbeacon` console script and `python -m functions.cli`.
Every other test runs ``functions.cli.main`` in its own process; these prove that the process
around it answers the same: exit statuses, JSON alone on stdout, one line on stderr."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.processes import MAILBEACON, run_cli_process

CONSOLE_SCRIPT = shutil.which("mailbeacon", path=str(Path(sys.executable).parent))
COMMANDS = {"console-script": (str(CONSOLE_SCRIPT),), "python-m": tuple(MAILBEACON)}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_the_command_answers_as_a_process(tmp_path: Path, command: tuple[str, ...]) -> None:
    assert CONSOLE_SCRIPT, "the mailbeacon console script is installed with the package"

    def run(*args: str) -> tuple[int, str, str]:
        done = run_cli_process(*args, data_dir=tmp_path / "data", command=command)
        return done.returncode, done.stdout, done.stderr

    status, out, err = run("track", "--sender", "ann@example.com", "--to", "bo@example.org",
                           "--subject", "Deck", "--json")  # fmt: skip
    assert (status, err) == (0, "")
    tracked = json.loads(out)
    status, out, err = run("stats", tracked["message_id"], "--json")
    assert (status, err) == (0, "") and json.loads(out)["subject"] == "Deck"
    status, out, err = run("stats", "A" * 16)
    assert status == 1 and out == "" and err.count("\n") == 1 and "no tracked message" in err
    status, out, err = run("track", "--sender", "not-an-address", "--to", "bo@example.org")
    assert status == 2 and out == "" and err.count("\n") == 1
    status, out, err = run("no-such-command")
    assert status == 2 and out == "" and err.count("\n") == 1

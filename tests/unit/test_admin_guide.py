"""docs/admin.md's and docs/deploy.md's commands are real: every `mailbeacon` line in their code
blocks parses with the command line's own grammar, and names a command whose tests the guide
cites (the rehearsal lines of deploy.md are run as written by tests/e2e/test_rehearsal.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from functions.cli.parser import build_parser

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "admin.md"
DEPLOY = GUIDE.parent / "deploy.md"
TESTED = {
    "deploy": "tests/integration/test_deploy_plan.py",
    "addon-deployment": "tests/unit/test_addon_deployment.py",
    "settings": "tests/e2e/test_notify_e2e.py",
    "gmail-watch": "tests/integration/test_sentwatch.py",
    "policy": "tests/e2e/test_policy_cli.py",
    "export": "tests/e2e/test_privacy_e2e.py",
    "delete": "tests/e2e/test_privacy_e2e.py",
}
DEPLOY_TESTED = {
    "deploy": "tests/integration/test_preflight.py",
    "deadletters": "tests/integration/test_deadletters.py",
}


def guide_commands(guide: Path = GUIDE) -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", guide.read_text(), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("mailbeacon ")]


def test_every_mailbeacon_command_in_the_guide_parses_and_is_covered() -> None:
    commands = guide_commands()
    assert len(commands) >= 15
    parser = build_parser()
    root = GUIDE.parents[1]
    for argv in commands:
        args = parser.parse_args(argv)  # a UsageError names the line's mistake
        assert args.command in TESTED, argv
        assert (root / TESTED[args.command]).exists()
    assert {argv[0] for argv in commands} == set(TESTED)


def test_every_mailbeacon_command_in_the_deploy_guide_parses_and_is_covered() -> None:
    commands = guide_commands(DEPLOY)
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)
        assert (GUIDE.parents[1] / DEPLOY_TESTED[args.command]).exists(), argv
    flags = {flag for argv in commands for flag in argv if flag.startswith("--")}
    assert {"--check", "--dry-run", "--rehearse", "--public-url"} <= flags
    assert {argv[1] for argv in commands if argv[0] == "deadletters"} == {"list", "replay"}

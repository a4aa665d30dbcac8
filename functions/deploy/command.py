"""`mailbeacon deploy`: refuse what would fail, check the project, assemble the source folder,
then print the plan (``--dry-run``) or run it; ``--check`` only checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from mailbeacon.errors import InvalidInput

from .assembly import assemble_source
from .checklist import findings, render
from .declaration import ISSUED_PROJECT, DeployConfig
from .preflight import BLOCKER, read
from .probe import Probe
from .script import plan


def check(config: DeployConfig, env: Mapping[str, str]) -> int:
    """The preflight: reads only; the checklist on stdout; 1 when something blocks the plan."""
    facts = read(config, Probe(env))
    found = findings(config, facts, env)
    sys.stdout.write(render(config, facts, found))
    return 1 if any(f.status == BLOCKER for f in found) else 0


def deploy(config: DeployConfig, *, source_dir: Path, dry_run: bool, env: Mapping[str, str]) -> int:
    """Print the plan (dry run) or check the project and run the plan. What would make the
    deployment fail or useless is a warning in a dry run and refused, before anything is
    written, in a real one. The source folder is an absolute path in the plan, so the script
    runs the same from any directory."""
    source_dir = source_dir.expanduser().absolute()
    script = plan(config, source=source_dir)
    problems = []
    if not ISSUED_PROJECT.match(config.project.rpartition(":")[2]):
        problems.append(
            f"{config.project!r} is not a project id Google issues"
            " (6-30 lowercase letters, digits, hyphens); gcloud will refuse it"
        )
    if "MAILBEACON_WORKSPACE_DOMAINS" not in dict(config.settings):
        problems.append(
            "MAILBEACON_WORKSPACE_DOMAINS is not set: the add-on would admit nobody"
            " (export it, e.g. MAILBEACON_WORKSPACE_DOMAINS=example.com)"
        )
    if problems and not dry_run:
        if problems[0].startswith(repr(config.project)):
            raise InvalidInput(f"not a Google Cloud project id: {config.project!r}")
        raise InvalidInput(problems[0])
    if not dry_run and shutil.which("gcloud", path=env.get("PATH")) is None:
        raise InvalidInput("gcloud is not installed (https://cloud.google.com/sdk)")
    if not dry_run and check(config, env) != 0:
        print("mailbeacon: the preflight found blockers; nothing was changed", file=sys.stderr)
        return 1
    assemble_source(source_dir)
    if dry_run:
        for problem in problems:
            print(f"mailbeacon: warning: {problem}", file=sys.stderr)
        sys.stdout.write(script)
        return 0
    return subprocess.run(
        ["bash", "-c", with_progress(script)], check=False, env=dict(env)
    ).returncode


def with_progress(script: str) -> str:
    """The plan, saying on stderr which of its gcloud steps runs ("[4/31] gcloud pubsub topics
    create"): a deployment takes minutes, and a silent one looks stuck."""
    steps = sum(line.count("gcloud ") for line in script.splitlines() if not line.startswith("#"))
    counter = (
        'mb_step=0\ngcloud() { mb_step=$((mb_step + 1)); printf "[%d/%d] gcloud %s %s %s\\n"'
        f' "$mb_step" {steps} "$1" "$2" "$3" >&2; command gcloud "$@"; }}\n'
    )
    return counter + script

"""`mailbeacon deploy`: refuse what would fail, assemble the source folder, then print the
plan (``--dry-run``) or run it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from mailbeacon.errors import InvalidInput

from .assembly import assemble_source
from .declaration import ISSUED_PROJECT, DeployConfig
from .script import plan


def deploy(config: DeployConfig, *, source_dir: Path, dry_run: bool) -> int:
    """Assemble the source folder, then print the plan (dry run) or run it. What would make
    the deployment fail or useless is a warning in a dry run and refused, before anything is
    written, in a real one."""
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
    if not dry_run and shutil.which("gcloud") is None:
        raise InvalidInput("gcloud is not installed (https://cloud.google.com/sdk)")
    assemble_source(source_dir)
    if dry_run:
        for problem in problems:
            print(f"mailbeacon: warning: {problem}", file=sys.stderr)
        sys.stdout.write(script)
        return 0
    return subprocess.run(["bash", "-c", with_progress(script)], check=False).returncode


def with_progress(script: str) -> str:
    """The plan, saying on stderr which of its gcloud steps runs ("[4/31] gcloud pubsub topics
    create"): a deployment takes minutes, and a silent one looks stuck."""
    steps = sum(line.count("gcloud ") for line in script.splitlines() if not line.startswith("#"))
    counter = (
        'mb_step=0\ngcloud() { mb_step=$((mb_step + 1)); printf "[%d/%d] gcloud %s %s %s\\n"'
        f' "$mb_step" {steps} "$1" "$2" "$3" >&2; command gcloud "$@"; }}\n'
    )
    return counter + script

"""`mailbeacon deploy --rehearse`: the plan's script runs against Google's rules for a new project
in a strict organisation, then what it deployed runs on this machine (emulators,
functions-framework per function, the environment each deploy received, a front as strict as
Google's front end and Firebase Hosting) and the user's journey passes through it: on the
function URLs and on a custom domain, each from a fresh clone's root and from another
directory, each run exactly as docs/deploy.md writes the command."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import MAILBEACON

pytestmark = pytest.mark.emulators

ROOT = Path(__file__).resolve().parents[2]
STEPS = 16
DOCUMENTED = "mailbeacon deploy --project demo-proj --region europe-west1 --rehearse"
CUSTOM = f"{DOCUMENTED} --public-url https://track.example.com"


def fresh_clone(into: Path) -> Path:
    """The repository's tracked files, as `git clone` leaves them (no build/, no .venv)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source, target = ROOT / name.decode(), into / name.decode()
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    for name in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        env.pop(name, None)  # the rehearsal starts its own emulators
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # where `mailbeacon` is
    return env


def test_the_documented_commands_are_these() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert DOCUMENTED in text.splitlines() and CUSTOM in text.splitlines()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("where", "command"),
    [("clone-root", DOCUMENTED), ("elsewhere", CUSTOM)],
    ids=["clone-root-function-urls", "elsewhere-custom-domain"],
)  # each documented command and each place once: a rehearsal costs ~30 s of a worker
def test_the_rehearsal_walks_the_whole_journey_and_stops_everything(
    tmp_path: Path, where: str, command: str
) -> None:
    cwd = fresh_clone(tmp_path / "clone") if where == "clone-root" else tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    result = subprocess.run(
        shlex.split(command), capture_output=True, text=True, env=_environment(), cwd=cwd,
        timeout=900,
    )  # fmt: skip
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("  PASS  ")]
    assert len(passed) == STEPS and "  FAIL  " not in result.stdout
    base = "https://track.example.com" if command == CUSTOM else "https://europe-west1-demo-proj"
    assert f"pixel inserted: {base}" in result.stdout
    assert "the plan ran against Google's rules" in result.stdout
    assert "Everything started here was stopped." in result.stdout
    # Every function ran from the source folder assembled under the caller's directory
    # (the documented default, build/functions-source), which holds no deployer or CLI.
    source = cwd / "build" / "functions-source"
    assert (source / "main.py").exists()
    assert not (source / "functions" / "deploy").exists()


def test_without_the_emulators_the_rehearsal_says_so_in_one_line(tmp_path: Path) -> None:
    env_sdk = {"MAILBEACON_GCLOUD_SDK": str(tmp_path / "no-sdk")}
    result = subprocess.run(
        [*MAILBEACON, "deploy", "--project", "demo-proj", "--region", "europe-west1",
         "--rehearse", "--source-dir", str(tmp_path / "src")],
        capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}, **env_sdk},
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot rehearse here" in result.stderr and "emulator" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

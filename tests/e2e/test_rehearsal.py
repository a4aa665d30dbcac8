"""`mailbeacon deploy --rehearse`: the planned deployment runs on this machine (emulators,
functions-framework per function, the plan's environment, a front for the plan's URLs) and the
user's journey passes through it, on the default URLs and on a custom domain."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import MAILBEACON

pytestmark = pytest.mark.emulators

STEPS = 14


def _rehearse(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    for name in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        env.pop(name, None)  # the rehearsal starts its own emulators
    return subprocess.run(
        [*MAILBEACON, "deploy", "--project", "demo-proj", "--region", "europe-west1",
         "--rehearse", "--source-dir", str(tmp_path / "src"), *extra],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("--public-url", "https://track.example.com")],
                         ids=["function-urls", "custom-domain"])  # fmt: skip
def test_the_rehearsal_walks_the_whole_journey_and_stops_everything(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    result = _rehearse(tmp_path, *extra)
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("  PASS  ")]
    assert len(passed) == STEPS and "  FAIL  " not in result.stdout
    base = "https://track.example.com" if extra else "https://europe-west1-demo-proj"
    assert f"pixel inserted: {base}" in result.stdout
    assert "Everything started here was stopped." in result.stdout
    # Every function ran from the assembled source folder, which holds no deployer or CLI.
    assert (tmp_path / "src" / "main.py").exists()
    assert not (tmp_path / "src" / "functions" / "deploy").exists()


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

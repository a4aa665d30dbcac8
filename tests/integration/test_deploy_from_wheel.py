"""`mailbeacon deploy` from an installed wheel, away from the repository: the indexes and the
source folder come from the installed package, not from a clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_deploy_dry_run_works_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    site = tmp_path / "site"
    (wheel,) = wheels.glob("mailbeacon-*.whl")
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    assert (site / "functions" / "cloud_files" / "firestore.indexes.json").exists()
    run = (
        "import sys; sys.path.insert(0, sys.argv[1]); import functions.cli as c;"
        " assert c.__file__.startswith(sys.argv[1]), c.__file__;"
        " sys.exit(c.main(sys.argv[2:]))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            run,
            str(site),
            "deploy",
            "--project",
            "p",  # the issue's own command: shown with a warning, refused only when run
            "--region",
            "europe-west1",
            "--dry-run",
            "--source-dir",
            "src",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")},
    )
    assert result.returncode == 0, result.stderr
    assert "not a project id Google issues" in result.stderr
    assert "gcloud firestore indexes composite create" in result.stdout
    assert "gcloud functions deploy pixel" in result.stdout
    requirements = (tmp_path / "src" / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("functions-framework") for r in requirements)
    assert any(r.startswith("slack-sdk") or r.startswith("slack_sdk") for r in requirements)
    assert not any(r.startswith("pytest") for r in requirements)
    assert (tmp_path / "src" / "main.py").exists()

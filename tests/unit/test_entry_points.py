"""Each Cloud Function answers only its own paths of the one WSGI app, whether or not the
function's name leads the path (cloudfunctions.net URL or the function's own URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.main import _path_for


@pytest.mark.parametrize(
    ("function", "path", "expected"),
    [
        ("pixel", "/p/TOKEN.gif", "/p/TOKEN.gif"),
        ("pixel", "/pixel/p/TOKEN.gif", "/p/TOKEN.gif"),
        ("pixel", "/c/TOKEN", None),  # every click URL is the click function's
        ("pixel", "/addon/home", None),
        ("click", "/click/c/TOKEN", "/c/TOKEN"),
        ("click", "/p/TOKEN.gif", None),
        ("addon", "/addon/compose", "/addon/compose"),
        ("addon", "/compose", "/addon/compose"),
        ("addon", "/", "/addon"),
        ("slack", "/slack/events", "/slack/events"),
        ("chat", "/chat", "/chat"),
        ("dashboard", "/dashboard/", "/dashboard/"),
    ],
)
def test_paths(function: str, path: str, expected: str | None) -> None:
    assert _path_for(function, path) == expected


def _probe(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_importing_the_entry_points_wires_nothing() -> None:
    result = _probe(
        "import sys, functions.main as m; "
        "print(bool(m._wired), 'functions.bootstrap' in sys.modules, 'flask' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    # functions-framework brings Flask; our wiring waits for the first request.
    assert result.stdout.split() == ["False", "False", "True"]


def test_the_cloud_refuses_to_start_without_the_token_secret(tmp_path: Path) -> None:
    result = _probe(
        "import functions.main as m; m.application()",
        MAILBEACON_STORE="firestore",
        MAILBEACON_BUS="pubsub",
        GOOGLE_CLOUD_PROJECT="p",
        MAILBEACON_DATA_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "MAILBEACON_SECRET is not set" in result.stderr
    assert not (tmp_path / "secret").exists()  # no per-instance key was made up

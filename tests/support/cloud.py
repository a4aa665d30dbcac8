"""Our Cloud Functions entry points served by functions-framework as subprocesses (the
emulators and their administration are functions/standins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from functions.standins.loopback import free_port
from tests.support.processes import stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_FRAMEWORK = [sys.executable, "-m", "functions_framework"]


def deployed_concurrency(target: str) -> int:
    from functions.deploy.resources import function

    return function(target).concurrency


@dataclass
class FunctionProcess:
    """One entry point of functions/main.py under functions-framework, on a free port, with
    as many threads as the plan deploys it with (its concurrency, as THREADS)."""

    target: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return (self.log_dir / f"{self.target}-{self.port}.log").read_text()

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.target} exited:\n{self.log}")
        try:
            urllib.request.urlopen(self.url + "/healthz", timeout=1).close()
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except OSError:
            return False
        return True

    def start(self) -> FunctionProcess:
        """Start it; a port taken between ``free_port`` and the bind (another test worker's
        connection) is tried again on another."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self.proc = subprocess.Popen(
                [
                    *FUNCTIONS_FRAMEWORK,
                    "--source",
                    str(ROOT / "functions" / "main.py"),
                    "--target",
                    self.target,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env={**os.environ, "THREADS": str(deployed_concurrency(self.target)), **self.env},
                stdout=(self.log_dir / f"{self.target}-{self.port}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(self._answers, timeout=30)
                return self
            except AssertionError:
                if "Address already in use" not in self.log:
                    raise
                self.port = free_port()
        raise AssertionError(f"{self.target}: no free port in three tries")

    def post_json(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            self.url + "/",
            data=json.dumps(body),
            timeout=60,
            headers={"Content-Type": "application/json"},
        )

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

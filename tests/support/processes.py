"""Start real processes for end-to-end tests: `mailbeacon serve` and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAILBEACON = [sys.executable, "-m", "functions.cli"]
LOOPBACK_WEBHOOKS = {"MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
"""The tests' webhook receivers listen on loopback; production allows only Slack and Chat."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """Ask a child process to stop, and kill it if it does not within ``timeout``."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_cli(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        **LOOPBACK_WEBHOOKS,
        "MAILBEACON_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    return subprocess.run(
        [*MAILBEACON, *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def cli_json(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> Any:
    result = run_cli(*args, "--json", data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@dataclass
class ServerProcess:
    """`mailbeacon serve` as a subprocess on a free loopback port."""

    data_dir: Path
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"server exited: {self.proc.stdout.read() if self.proc.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                return response.status in (200, 503)
        except OSError:
            return False

    def start(self) -> ServerProcess:
        self.log = self.data_dir / f"server-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [*MAILBEACON, "serve", "--port", str(self.port), *self.extra_args],
            env={
                **os.environ,
                **LOOPBACK_WEBHOOKS,
                "MAILBEACON_DATA_DIR": str(self.data_dir),
                **self.env,
            },
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(self._healthy)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, data_dir=self.data_dir, env=self.env)

    def cli_json(self, *args: str) -> Any:
        return cli_json(*args, data_dir=self.data_dir, env=self.env)

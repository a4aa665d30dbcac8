"""Run Mailbeacon for end-to-end tests: `mailbeacon serve` as a real process, and the CLI.

The CLI runs in this process (``run_cli``): ``functions.cli.main`` takes the environment as a
parameter and changes nothing process-wide, so a command costs what it does, not a Python
start-up. ``run_cli_process`` runs the real `python -m functions.cli`, for the few tests that
prove the process itself (exit status, output streams, the console script).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.standins.webhooks import LOOPBACK_WEBHOOKS

MAILBEACON = [sys.executable, "-m", "functions.cli"]


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


def spooled(data_dir: Path) -> list[bytes]:
    """Every hit record in a data dir's spool, processed or not, in every edge's lane."""
    from mailbeacon.bus.spool import Position, iter_pending, lane_dir, lanes

    spool = data_dir / "spool"
    return [r for lane in lanes(spool) for r in iter_pending(lane_dir(spool, lane), Position(0, 0))]


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """Ask a child process to stop, and kill it if it does not within ``timeout``."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


TEST_DEFAULTS = {"MAILBEACON_ALERT_SETTLE_SECONDS": "0", "MAILBEACON_EDGE_PROCESSES": "1"}
"""Alerts go at once in the end-to-end tests (the settle window has tests of its own), and a
server answers from one edge process: the tests of what several processes share (the port,
spool lanes, limits, health; an attack, a kill -9 under load, a crash) ask for two
(``EDGE_PROCESSES``), the others would only pay for importing the app once more per server
(26 s of the suite's 3 minutes on two CPUs)."""

EDGE_PROCESSES = {"MAILBEACON_EDGE_PROCESSES": "2"}
"""What a test of the processes sharing a port asks for, whatever the CPUs (the default is
one per CPU)."""


def cli_env(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """What a command run by a test reads: this process's environment, loopback webhooks
    allowed, alerts without a settle window, the test's data dir and variables."""
    return {
        **os.environ,
        **LOOPBACK_WEBHOOKS,
        **TEST_DEFAULTS,
        "MAILBEACON_DATA_DIR": str(data_dir),
        **(env or {}),
    }


def run_cli(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mailbeacon ARGS` run in this process, answered as the process would be."""
    from functions.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args), env=cli_env(data_dir, env))
        except SystemExit as exc:  # argparse's --help
            status = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(
        ["mailbeacon", *args], status, out.getvalue(), err.getvalue()
    )


def run_cli_process(
    *args: str,
    data_dir: Path,
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = tuple(MAILBEACON),
) -> subprocess.CompletedProcess[str]:
    """``command ARGS`` (default `python -m functions.cli`) as a child process."""
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=cli_env(data_dir, env),
        timeout=60,
    )


def cli_json(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> Any:
    result = run_cli(*args, "--json", data_dir=data_dir, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@dataclass
class ServerProcess:
    """`mailbeacon serve` as a subprocess on loopback. With ``port`` 0 (the default) the server
    binds a free port itself and names it in its data dir's server.json: a port picked here and
    bound there could be taken in between by another test worker."""

    data_dir: Path
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    open_files: tuple[int, int] | None = None
    """The (soft, hard) limit on open files the server starts with (the test's own else)."""
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
        if not self.port:
            try:
                listen = json.loads((self.data_dir / "server.json").read_text())["listen"]
            except (OSError, ValueError, KeyError):
                return False
            self.port = int(listen.rsplit(":", 1)[1])
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                if response.status not in (200, 503):
                    return False
        except OSError:
            return False
        return self._all_edges_answering()

    def _all_edges_answering(self) -> bool:
        """Every edge process the server started answers (each logs it once it does)."""
        log = self.log.read_text()
        wanted = re.search(r"; (\d+) edge processes\)", log)
        return not wanted or log.count(" answering on port ") >= int(wanted.group(1)) - 1

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "server.json").unlink(missing_ok=True)  # a previous server's
        self.log = self.data_dir / f"server-{len(list(self.data_dir.glob('server-*.log')))}.log"
        self.proc = subprocess.Popen(
            [*self._limited(), *MAILBEACON, "serve", "--port", str(self.port), *self.extra_args],
            env=cli_env(self.data_dir, self.env),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(self._healthy, interval=0.02)
        return self

    def _limited(self) -> list[str]:
        """A Python that sets the limit and becomes the server (not ``preexec_fn``: in a test
        worker whose gRPC threads run, gRPC's fork handler broke the child)."""
        if not self.open_files:
            return []
        setting = (
            "import os, resource, sys;"
            " resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])));"
            " os.execv(sys.argv[3], sys.argv[3:])"
        )
        return [sys.executable, "-c", setting, *map(str, self.open_files)]

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly, as a crash would (the worker process dies with the server)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, data_dir=self.data_dir, env=self.env)

    def cli_json(self, *args: str) -> Any:
        return cli_json(*args, data_dir=self.data_dir, env=self.env)

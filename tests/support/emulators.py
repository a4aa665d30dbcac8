"""Google's Firestore and Pub/Sub emulators as a pytest plugin, started only when a test asks.

The emulators are the Debian packages google-cloud-cli-firestore-emulator and
google-cloud-cli-pubsub-emulator. We run their jars with ``java`` directly on free loopback
ports (stopping gcloud's wrapper would leave its java child running), wait for ``Ok`` on
``GET /`` and stop them at the end of the session, also when tests fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from functions.rehearsal.local import NotAvailable
from functions.rehearsal.local import firestore_command as rehearsal_firestore_command
from functions.rehearsal.local import pubsub_command as rehearsal_pubsub_command
from tests.support.processes import free_port, stop_process, wait_until

PROJECT = "mailbeacon-test"


def _die_with_parent() -> None:
    """On Linux, have the kernel stop the emulator if pytest itself is killed."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Emulator:
    """One emulator process on a free loopback port."""

    name: str
    command: list[str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                return response.read().strip() == b"Ok"
        except OSError:
            return False

    def start(self, timeout: float = 60.0) -> Emulator:
        self.proc = subprocess.Popen(
            [*self.command, "--host=127.0.0.1", f"--port={self.port}"],
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} emulator exited: {self.log_path.read_text()}")
            return self._ready()

        try:
            wait_until(ready, timeout=timeout, interval=0.1)
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"{self.name} emulator not ready in {timeout}s") from exc
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def firestore_command() -> list[str]:
    """The command `mailbeacon deploy --rehearse` runs too (one place knows the packages)."""
    try:
        return rehearsal_firestore_command()
    except NotAvailable as exc:
        raise RuntimeError(str(exc)) from exc


def pubsub_command() -> list[str]:
    try:
        return rehearsal_pubsub_command()
    except NotAvailable as exc:
        raise RuntimeError(str(exc)) from exc


@dataclass
class Emulators:
    """What tests need to talk to the running emulators."""

    firestore_host: str
    pubsub_host: str
    project: str = PROJECT

    @property
    def env(self) -> dict[str, str]:
        return {
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def reset_firestore(self) -> None:
        """Drop every document (the emulator's own reset endpoint)."""
        url = (
            f"http://{self.firestore_host}/emulator/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    """Both emulators for the session; their hosts are exported for client libraries."""
    logs = tmp_path_factory.mktemp("emulators")
    try:
        firestore = Emulator("Firestore", firestore_command(), logs / "firestore.log")
        pubsub = Emulator("Pub/Sub", pubsub_command(), logs / "pubsub.log")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    started: list[Emulator] = []
    try:
        for emulator in (firestore, pubsub):  # started in turn: two cores are shared
            started.append(emulator.start())
        running = Emulators(firestore.host, pubsub.host)
        saved = {k: os.environ.get(k) for k in running.env}
        os.environ.update(running.env)
        yield running
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        for emulator in started:
            emulator.stop()

"""Google's own stand-ins: the Firestore and Pub/Sub emulators, run as local processes.

The emulators are the Debian packages google-cloud-cli-firestore-emulator and
google-cloud-cli-pubsub-emulator. Their jars run with ``java`` directly on a free loopback port
(stopping gcloud's wrapper would leave its java child running); an emulator is ready when
``GET /`` answers ``Ok``. The rehearsal, the test suite and the benches start them from here.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .loopback import free_port

SDK = Path(os.environ.get("MAILBEACON_GCLOUD_SDK", "/usr/lib/google-cloud-sdk"))
FIRESTORE_JAR = SDK / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
PUBSUB_JARS = str(SDK / "platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar")
INSTALL = (
    "apt-get install google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator"
    " default-jre-headless"
)
JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
"""An emulator lives minutes and serves thousands of requests, not millions: the quick (C1)
compiler alone and one GC thread halve its CPU, starting and serving (measured on both)."""


class NotAvailable(RuntimeError):
    """Something this machine lacks to run an emulator (said in one line)."""


def firestore_command() -> list[str]:
    java = shutil.which("java")
    if java is None or not FIRESTORE_JAR.exists():
        raise NotAvailable(f"the Firestore emulator needs java and {FIRESTORE_JAR} ({INSTALL})")
    main = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
    return [java, *JVM, "-Duser.language=en", "-cp", str(FIRESTORE_JAR), main, "start"]


def pubsub_command() -> list[str]:
    java = shutil.which("java")
    jars = sorted(glob.glob(PUBSUB_JARS))
    if java is None or not jars:
        raise NotAvailable(f"the Pub/Sub emulator needs java and {PUBSUB_JARS} ({INSTALL})")
    return [java, *JVM, "-jar", jars[-1]]


def die_with_parent() -> None:
    """A child's ``preexec_fn``: on Linux the kernel stops it if its parent dies first."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Emulator:
    """One emulator process on a loopback port (a free one unless given)."""

    name: str
    command: list[str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def launch(self) -> Emulator:
        """Start the process and return at once (``wait_ready`` waits for it)."""
        self.proc = subprocess.Popen(
            [*self.command, "--host=127.0.0.1", f"--port={self.port}"],
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        return self

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise NotAvailable(f"{self.name} emulator exited: {self.log_path.read_text()[-2000:]}")
        return answers_ok(self.host)

    def wait_ready(self, timeout: float = 90.0) -> Emulator:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                self.stop()
                raise NotAvailable(f"{self.name} emulator not ready in {timeout:.0f}s")
            time.sleep(0.1)
        return self

    def start(self, timeout: float = 90.0) -> Emulator:
        return self.launch().wait_ready(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def answers_ok(host: str) -> bool:
    """Whether the emulator at ``host`` is up (``GET /`` answers ``Ok``)."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=1) as response:
            return bool(response.read().strip() == b"Ok")
    except OSError:
        return False

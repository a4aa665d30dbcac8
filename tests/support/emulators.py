"""Google's Firestore and Pub/Sub emulators as a pytest plugin, started once per run.

Without xdist the ``emulators`` fixture starts them the first time a test asks. With xdist the
controller launches them when the run starts (a worker cannot know whether another one will
need them, and only the controller outlives every worker) and tells each worker their hosts;
a worker's fixture waits until they answer. Every worker uses its own project id, which the
emulators keep apart, so one worker's ``reset_firestore`` never touches another's data. They
are stopped when the run ends, also when tests fail, and by the kernel if pytest is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pytest

from functions.standins.emulators import (
    Emulator,
    NotAvailable,
    answers_ok,
    firestore_command,
    pubsub_command,
)

PROJECT = f"mailbeacon-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
"""This process's project on the shared emulators (xdist names each worker before conftest
files are imported)."""
HOSTS = "mailbeacon_emulators"
"""The key under which the controller hands the emulators' hosts to the workers."""

_launched: list[Emulator] = []


def _launch(logs: Path | None = None) -> list[Emulator]:
    """Both emulators, started now and ready some seconds later; their logs in ``logs``
    (default: a new temporary folder, removed when they stop)."""
    commands = [("Firestore", firestore_command()), ("Pub/Sub", pubsub_command())]
    folder = logs or Path(mkdtemp(prefix="mailbeacon-emulators-"))
    return [
        Emulator(name, command, folder / f"{log}.log").launch()
        for (name, command), log in zip(commands, ("firestore", "pubsub"), strict=True)
    ]


def _controls_workers(config: pytest.Config) -> bool:
    return getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """On the xdist controller: launch them (a few seconds of CPU if no test needs them;
    ``-m "not emulators"`` leaves them out)."""
    if not _controls_workers(config) or "not emulators" in (config.option.markexpr or ""):
        return
    # If they cannot start, a test that asks for them fails with the reason (its worker tries).
    with contextlib.suppress(NotAvailable):
        _launched.extend(_launch())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: pass the running emulators' hosts to a new worker."""
    if _launched:
        hosts = {"firestore": _launched[0].host, "pubsub": _launched[1].host}
        node.workerinput[HOSTS] = json.dumps(hosts)  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    while _launched:
        emulator = _launched.pop()
        emulator.stop()
        shutil.rmtree(emulator.log_path.parent, ignore_errors=True)


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
        """Drop every document of this process's project (the emulator's reset endpoint)."""
        url = (
            f"http://{self.firestore_host}/emulator/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()


def _wait_ready(hosts: list[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(answers_ok(host) for host in hosts):
        if time.monotonic() > deadline:
            pytest.fail(f"the emulators at {hosts} did not answer in {timeout:.0f}s", False)
        time.sleep(0.1)


@pytest.fixture(scope="session")
def emulators(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulators]:
    """Both emulators for the session; their hosts are exported for client libraries."""
    shared = getattr(request.config, "workerinput", {}).get(HOSTS)
    started: list[Emulator] = []
    try:
        if shared:
            hosts = json.loads(shared)
            _wait_ready([hosts["firestore"], hosts["pubsub"]])
        else:
            try:
                started = _launch(tmp_path_factory.mktemp("emulators"))
                for emulator in started:
                    emulator.wait_ready()
            except NotAvailable as exc:
                pytest.fail(str(exc), pytrace=False)
            hosts = {"firestore": started[0].host, "pubsub": started[1].host}
        running = Emulators(hosts["firestore"], hosts["pubsub"])
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

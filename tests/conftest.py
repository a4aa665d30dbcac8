"""Shared fixtures. Tiers: tests/unit (no I/O), tests/integration (real adapters, emulators),
tests/e2e (`mailbeacon serve` as a process; the CLI in process, tests/support/processes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.standins.gmail import Gmail
from functions.standins.google_signin import GoogleSignIn
from functions.standins.slack import Slack
from functions.standins.webhooks import WebhookReceiver
from mailbeacon.clock import FixedClock
from tests.support.fake_gcloud import FakeGcloud, fake_gcloud
from tests.support.processes import ServerProcess

pytest_plugins = ["tests.support.emulators"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the ``slow`` tests first (with xdist, a long test started last is the run's tail),
    and refuse a test that starts the emulators without the ``emulators`` marker, so that
    ``-m "not emulators"`` really runs without java."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    unmarked = [
        item.nodeid
        for item in items
        if "emulators" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("emulators") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests use the emulators fixture without @pytest.mark.emulators: " + ", ".join(unmarked)
        )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=1))


@pytest.fixture
def gcloud(tmp_path: Path) -> Iterator[FakeGcloud]:
    """gcloud on a PATH of its own (``gcloud.bin_dir``), answered by this process."""
    fake = fake_gcloud(tmp_path / "gcloud-bin")
    yield fake
    fake.stop()


@pytest.fixture
def gmail() -> Iterator[Gmail]:
    """Gmail's API on loopback (functions/standins/gmail.py), a fresh one per test."""
    fake = Gmail()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleSignIn]:
    """Google's sign-in on loopback, one per module (its users are the module's)."""
    fake = GoogleSignIn()
    yield fake
    fake.stop()


@pytest.fixture
def slack() -> Iterator[Slack]:
    """Slack's Web API and OAuth on loopback (functions/standins/slack.py)."""
    fake = Slack()
    yield fake
    fake.stop()


@pytest.fixture
def slack_webhook() -> Iterator[WebhookReceiver]:
    """An incoming-webhook endpoint on loopback that keeps what it was sent."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir=tmp_path / "data").start()
    yield proc
    proc.stop()

"""Shared fixtures. Tiers: tests/unit (no I/O), tests/integration (real adapters, emulators),
tests/e2e (`mailbeacon serve` as a process; the CLI in process, tests/support/processes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbeacon.clock import FixedClock
from mailbeacon.store import Store
from mailbeacon.store.memory import MemoryStore
from mailbeacon.store.sqlite import Database, SqliteStore
from tests.support.fake_gcloud import FakeGcloud
from tests.support.processes import ServerProcess

pytest_plugins = ["tests.support.emulators"]

StoreFactory = Callable[[Path], Store]


def _sqlite(path: Path) -> Store:
    return SqliteStore(Database(path / "contract.db"))


# Every Store implementation the contract suite runs on; other backends add themselves here.
STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": lambda _path: MemoryStore(),
    "sqlite": _sqlite,
}


def _firestore(_path: Path) -> Store:
    """On the Firestore emulator, under a random collection prefix so tests never collide."""
    import secrets

    from mailbeacon.store.firestore import FirestoreStore
    from tests.support.emulators import PROJECT

    # A short coalescing interval keeps the suite quick; the hot-document test uses the real one.
    return FirestoreStore(project=PROJECT, prefix=f"t{secrets.token_hex(4)}_", flush_interval=0.05)


STORE_FACTORIES["firestore"] = _firestore
NEEDS_EMULATORS = {"firestore"}


def backend_params(names: list[str], needs_emulators: set[str]) -> list[pytest.ParameterSet]:
    """Parametrise over backends, marking those that need the emulators (``-m "not emulators"``
    then runs the rest without java)."""
    return [
        pytest.param(name, marks=[pytest.mark.emulators] if name in needs_emulators else [])
        for name in names
    ]


@pytest.fixture(params=backend_params(sorted(STORE_FACTORIES), NEEDS_EMULATORS))
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param in NEEDS_EMULATORS:
        request.getfixturevalue("emulators").reset_firestore()
    store = STORE_FACTORIES[request.param](tmp_path)
    yield store
    store.close()


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
    fake = FakeGcloud(tmp_path / "gcloud-bin")
    yield fake
    fake.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir=tmp_path / "data").start()
    yield proc
    proc.stop()

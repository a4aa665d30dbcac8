"""Shared fixtures. Tiers: tests/unit (no I/O), tests/integration (real adapters, emulators),
tests/e2e (the running server and the CLI as subprocesses)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbeacon.clock import FixedClock
from mailbeacon.store import Store
from mailbeacon.store.memory import MemoryStore
from mailbeacon.store.sqlite import Database, SqliteStore
from tests.support.processes import ServerProcess

StoreFactory = Callable[[Path], Store]


def _sqlite(path: Path) -> Store:
    return SqliteStore(Database(path / "contract.db"))


# Every Store implementation the contract suite runs on; other backends add themselves here.
STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": lambda _path: MemoryStore(),
    "sqlite": _sqlite,
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = STORE_FACTORIES[request.param](tmp_path)
    yield store
    store.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=1))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir=tmp_path / "data").start()
    yield proc
    proc.stop()

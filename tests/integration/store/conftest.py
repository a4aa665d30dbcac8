"""The store's backends for its contract suites, one suite per port (test_<port>_contract.py):
memory, SQLite, and Firestore on its emulator (marked ``emulators``, under a random collection
prefix so tests never collide and never need the emulator wiped).

``store`` is a whole backend: a port's suite drives that port, and uses the others only to
set up or observe. ``records`` is a backend's Records part built alone, the way the
composition root may build it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailbeacon.records import Records
from mailbeacon.store import Store
from mailbeacon.store.memory import MemoryRecords, MemoryStore
from mailbeacon.store.sqlite import Database, SqliteRecords, SqliteStore


def _firestore(_path: Path) -> Store:
    from mailbeacon.store.firestore import FirestoreStore
    from tests.support.emulators import PROJECT

    # A short coalescing interval keeps the suites quick; test_hot_documents uses the real one.
    return FirestoreStore(project=PROJECT, prefix=f"t{secrets.token_hex(4)}_", flush_interval=0.05)


def _firestore_records(_path: Path) -> Records:
    from mailbeacon.store.firestore import Connection, FirestoreRecords
    from tests.support.emulators import PROJECT

    return FirestoreRecords(Connection(project=PROJECT, prefix=f"t{secrets.token_hex(4)}_"))


STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _path: MemoryStore(),
    "sqlite": lambda path: SqliteStore(Database(path / "contract.db")),
    "firestore": _firestore,
}
RECORDS: dict[str, Callable[[Path], Records]] = {
    "memory": lambda _path: MemoryRecords(),
    "sqlite": lambda path: SqliteRecords(Database(path / "records.db")),
    "firestore": _firestore_records,
}
NEEDS_EMULATORS = {"firestore"}
BACKENDS = [
    pytest.param(name, marks=[pytest.mark.emulators] if name in NEEDS_EMULATORS else [])
    for name in sorted(STORES)
]


def _needs(request: pytest.FixtureRequest) -> None:
    if request.param in NEEDS_EMULATORS:
        request.getfixturevalue("emulators")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    _needs(request)
    made = STORES[request.param](tmp_path)
    yield made
    made.close()


@pytest.fixture(params=BACKENDS)
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Records]:
    _needs(request)
    made = RECORDS[request.param](tmp_path)
    yield made
    if isinstance(made, SqliteRecords):
        made.db.close()

"""SQLite keeps day counters parsed (mailbeacon/store/sqlite/days.py): a day that changed is
read afresh, and what a caller does to the counters it was given never reaches the next."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from mailbeacon.store.sqlite import Database, SqliteStore
from tests.support.store_data import T0, event, message, owner


def test_a_changed_day_is_read_afresh_and_callers_get_their_own_copy(tmp_path: Path) -> None:
    store = SqliteStore(Database(tmp_path / "days.db"))
    who, day = owner(), T0.date().isoformat()
    m = message(who, at=T0)
    store.add_message(m)
    first = store.day_counts(who, day, day)[day]
    assert first["messages"] == 1 and "human_opens" not in first
    first["messages"] = 99
    assert store.day_counts(who, day, day)[day]["messages"] == 1
    store.add_event(event(m.id, T0 + timedelta(minutes=5)))
    assert store.day_counts(who, day, day)[day]["human_opens"] == 1
    store.delete_message(m.id)
    assert store.day_counts(who, day, day) == {}

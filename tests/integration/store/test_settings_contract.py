"""The SettingsStore contract on every backend: defaults for a user who never saved any, a
round trip of every field, addresses in any case, a save that replaces the whole, and an
atomic change that no concurrent writer loses."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from mailbeacon.errors import StoreUnavailable
from mailbeacon.model import Notify, QuietHours, Settings
from mailbeacon.store import Store
from tests.support.store_data import owner


def test_settings_default_then_round_trip(store: Store) -> None:
    who = owner()
    assert store.get_settings(who) == Settings(user=who)
    settings = Settings(
        user=who,
        notify=Notify.EVERY_OPEN,
        slack_webhook="https://hooks.slack.com/services/T/B/X",
        quiet_hours=QuietHours(22, 7),
        timezone="Europe/Paris",
        muted=("m1",),
        problems=("slack: invalid_auth",),
    )
    store.put_settings(settings)
    assert store.get_settings(who.upper()) == settings


def test_a_save_replaces_the_settings_whole(store: Store) -> None:
    who = owner()
    store.put_settings(Settings(user=who.upper(), email_to=who, muted=("m1",)))
    store.put_settings(Settings(user=who, notify=Notify.CLICKS))
    assert store.get_settings(who) == Settings(user=who, notify=Notify.CLICKS)


def test_changes_from_many_writers_at_once_are_all_kept(store: Store) -> None:
    """change_settings is one atomic read-and-write: eight writers adding a problem each at
    the same moment (the notifier's threads, a user saving the form) lose none."""
    who = owner()
    start = threading.Barrier(8)

    failed: list[int] = []

    def add(i: int) -> None:
        start.wait()
        for _ in range(5):  # contention past the store's own retries: retried, as the bus does
            try:
                store.change_settings(who, lambda s: replace(s, problems=(*s.problems, f"p{i}")))
                return
            except StoreUnavailable:
                continue
        failed.append(i)

    writers = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failed == []
    assert sorted(store.get_settings(who).problems) == [f"p{i}" for i in range(8)]


def test_a_change_that_raises_saves_nothing(store: Store) -> None:
    who = owner()
    store.put_settings(Settings(user=who, notify=Notify.CLICKS))

    def refuse(_settings: Settings) -> Settings:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.change_settings(who, refuse)
    assert store.get_settings(who) == Settings(user=who, notify=Notify.CLICKS)
    saved = store.change_settings(who, lambda s: replace(s, timezone="Asia/Tokyo"))
    assert saved == store.get_settings(who.upper()) and saved.notify is Notify.CLICKS

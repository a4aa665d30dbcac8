"""The SettingsStore contract on every backend: defaults for a user who never saved any, a
round trip of every field, addresses in any case, and a save that replaces the whole."""

from __future__ import annotations

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

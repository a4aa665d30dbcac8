"""Reminders on the in-memory Records: when they fall due, once per due time however many
schedulers sweep, and what snoozing, a reply, quiet hours and clearing do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon import reminders
from mailbeacon.bus import NOTIFY
from mailbeacon.bus.memory import MemoryBus
from mailbeacon.errors import InvalidInput
from mailbeacon.model import Message, QuietHours
from mailbeacon.records import Namespace
from mailbeacon.rollup import Summary
from mailbeacon.store.memory import MemoryRecords
from notifier.decide import quiet_end

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = Message("m" * 16, "ana@acme.test", ("bo@example.org",), "Proposal", NOW, NOW)


def handed(bus: MemoryBus) -> list[dict]:
    return [p for topic, p in bus.published if topic == NOTIFY]


def test_a_reminder_falls_due_once_however_many_schedulers_sweep() -> None:
    records, bus = MemoryRecords(), MemoryBus()
    due = reminders.due_in_days(MESSAGE, 3, NOW)
    assert due == NOW + timedelta(days=3)
    reminders.set_reminder(records, MESSAGE, due, NOW)
    assert reminders.publish_due(records, bus, NOW) == 0  # not yet
    later = due + timedelta(seconds=30)
    assert reminders.publish_due(records, bus, later) == 1
    assert reminders.publish_due(records, bus, later) == 0  # a second process, the same sweep
    fire = int(due.timestamp())
    assert handed(bus) == [
        {"kind": "reminder", "message_id": MESSAGE.id, "fire": fire, "owner": "ana@acme.test"}
    ]


def test_a_claim_left_by_a_process_that_died_is_taken_over_after_its_lease() -> None:
    records, bus = MemoryRecords(), MemoryBus()
    reminders.set_reminder(records, MESSAGE, NOW, NOW)
    key = f"{MESSAGE.id}/{int(NOW.timestamp())}"
    stale = {"state": "claimed", "until": (NOW + timedelta(seconds=20)).isoformat()}
    records.put_record(Namespace.REMINDER_FIRED, key, stale)  # claimed, then the process died
    assert reminders.publish_due(records, bus, NOW + timedelta(seconds=10)) == 0
    assert reminders.publish_due(records, bus, NOW + timedelta(seconds=90)) == 1
    assert reminders.publish_due(records, bus, NOW + timedelta(seconds=200)) == 0


def test_a_sweep_after_downtime_catches_up_hour_by_hour() -> None:
    records, bus = MemoryRecords(), MemoryBus()
    assert reminders.publish_due(records, bus, NOW) == 0  # the cursor starts here
    for hours in (1, 5, 30):
        other = Message(f"{hours:0>16}", "ana@acme.test", ("x@y.org",), "", NOW, NOW)
        reminders.set_reminder(records, other, NOW + timedelta(hours=hours), NOW)
    assert reminders.publish_due(records, bus, NOW + timedelta(hours=40)) == 3


def test_snooze_done_clear_and_a_reply() -> None:
    records, bus = MemoryRecords(), MemoryBus()
    reminders.set_reminder(records, MESSAGE, NOW, NOW)
    snoozed = reminders.apply_action(records, MESSAGE.id, "snooze-3", NOW)
    assert (snoozed.state, snoozed.due_at) == ("scheduled", NOW + timedelta(days=3))
    assert reminders.publish_due(records, bus, NOW + timedelta(days=1)) == 0
    assert reminders.apply_action(records, MESSAGE.id, "done", NOW).state == "done"
    assert reminders.publish_due(records, bus, NOW + timedelta(days=4)) == 0
    reminders.set_reminder(records, MESSAGE, NOW + timedelta(days=1), NOW)
    cancelled = reminders.cancel_on_reply(records, MESSAGE.id, NOW)
    assert cancelled is not None and cancelled.to_public() == {
        "due_at": "2026-03-03T09:00:00.000Z",
        "state": "cancelled",
        "reason": "replied",
    }
    assert reminders.publish_due(records, bus, NOW + timedelta(days=2)) == 0
    assert (
        reminders.clear_reminder(records, MESSAGE.id)
        and reminders.public(records, MESSAGE.id) is None
    )
    with pytest.raises(InvalidInput, match="reply already"):
        reminders.remind(records, MESSAGE, NOW, NOW, Summary(status="replied", human_replies=1))


def test_quiet_hours_end_in_the_users_morning() -> None:
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    assert quiet_end(QuietHours(22, 7), "Europe/Berlin", night) == datetime(
        2026, 3, 3, 6, 0, tzinfo=UTC
    )

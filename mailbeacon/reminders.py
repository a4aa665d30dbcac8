"""Follow-up reminders: "remind me if nobody replied in N days", kept per tracked email.

A reminder is a Records document per email (``reminders``: due time, state) and one entry in
a due index (``reminders-due``) whose key starts with the UTC hour it fires in, so the
scheduler lists only the hours it has not swept (a prefix query, on every backend) instead of
every reminder. A person's reply cancels it; snoozing moves it; quiet hours hold it for the
morning (the notifier moves ``fire_at``, the due time stays what the user asked for).

Exactly once per due time: the scheduler claims ``{message}/{fire time}`` before it hands the
reminder to the notifier (a claim whose process died is taken over after a lease), and the
notifier delivers it under the key ``reminder-{message}-{fire time}`` through its delivery log,
once per channel however often the bus redelivers and however many schedulers run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .bus import NOTIFY, Bus
from .clock import iso, parse_time
from .errors import InvalidInput
from .model import Message
from .records import Namespace, Records
from .rollup import Summary

MAX_DAYS = 365
CHOICES = (1, 2, 3, 7)
"""The compose card's "remind me if no reply in N days"."""
SNOOZES = {"snooze-1": 1, "snooze-3": 3}
ACTIONS = (*SNOOZES, "done")
LABELS = {"snooze-1": "Snooze 1 day", "snooze-3": "Snooze 3 days", "done": "Done"}
"""What each action's button says, in every channel and on the signed link's page."""
CLAIM_LEASE = timedelta(seconds=60)
OPEN = ("scheduled",)
SCAN_PAYLOAD = {"job": "reminders"}
"""What Cloud Scheduler publishes on the digest topic to have the due reminders sent
(publish_due); the digest topic's consumer tells it from the daily digest by its ``job``."""


@dataclass(frozen=True)
class Reminder:
    """One email's reminder. ``due_at`` is what the user asked for (or snoozed to);
    ``fire_at`` is when it goes out (later only when quiet hours held it)."""

    message_id: str
    owner: str
    due_at: datetime
    fire_at: datetime
    state: str  # scheduled, due (sent, no reply yet), done, cancelled (a reply came)
    changed_at: datetime
    reason: str = ""

    @property
    def fire_key(self) -> int:
        """The fire time in whole seconds: with the message id, the reminder's delivery key."""
        return int(self.fire_at.timestamp())

    def to_public(self) -> dict[str, Any]:
        public = {"due_at": iso(self.due_at), "state": self.state}
        if self.fire_at > self.due_at and self.state == "scheduled":
            public["held_until"] = iso(self.fire_at)
        if self.reason:
            public["reason"] = self.reason
        return public

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "owner": self.owner,
            "due_at": iso(self.due_at),
            "fire_at": iso(self.fire_at),
            "state": self.state,
            "changed_at": iso(self.changed_at),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reminder:
        return cls(
            message_id=data["message_id"],
            owner=data["owner"],
            due_at=parse_time(data["due_at"]),
            fire_at=parse_time(data.get("fire_at") or data["due_at"]),
            state=data.get("state") or "scheduled",
            changed_at=parse_time(data["changed_at"]),
            reason=data.get("reason") or "",
        )


def _index_key(reminder: Reminder) -> str:
    hour = reminder.fire_at.astimezone(UTC).strftime("%Y-%m-%dT%H")
    return f"{hour}|{reminder.fire_key:012d}|{reminder.message_id}"


def get_reminder(records: Records, message_id: str) -> Reminder | None:
    found = records.get_record(Namespace.REMINDERS, message_id)
    return Reminder.from_dict(found) if found else None


def public(records: Records, message_id: str) -> dict[str, Any] | None:
    """The reminder as the API shows it (``{"due_at", "state"}``), None without one."""
    found = get_reminder(records, message_id)
    return found.to_public() if found else None


def _save(records: Records, old: Reminder | None, new: Reminder) -> Reminder:
    """Write the reminder and move its index entry: indexed only while it is scheduled."""
    if old is not None and old.state == "scheduled":
        records.delete_record(Namespace.REMINDERS_DUE, _index_key(old))
    records.put_record(Namespace.REMINDERS, new.message_id, new.to_dict())
    if new.state == "scheduled":
        entry = {"message_id": new.message_id, "owner": new.owner}
        records.put_record(Namespace.REMINDERS_DUE, _index_key(new), entry)
    return new


def due_in_days(message: Message, days: int, now: datetime) -> datetime:
    """``days`` after the email left (its send time, else when it was tracked); a time already
    past is due now."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}")
    return max(message.reference_time + timedelta(days=days), now)


def set_reminder(records: Records, message: Message, due_at: datetime, now: datetime) -> Reminder:
    """Remind ``message``'s owner at ``due_at`` unless someone replies first (replaces any
    earlier reminder of the email)."""
    if due_at.tzinfo is None:
        raise InvalidInput("due_at needs a time zone (such as Z or +01:00)")
    if due_at > now + timedelta(days=MAX_DAYS):
        raise InvalidInput(f"due_at must be within {MAX_DAYS} days")
    old = get_reminder(records, message.id)
    at = max(due_at, now)
    new = Reminder(message.id, message.owner, due_at, at, "scheduled", now)
    return _save(records, old, new)


def remind(
    records: Records, message: Message, due_at: datetime, now: datetime, summary: Summary | None
) -> Reminder:
    """``set_reminder`` for every writer (API, CLI, dashboard, add-on): refused once a person
    replied, since the reminder could only be cancelled at once."""
    if summary is not None and summary.human_replies:
        raise InvalidInput("this email has a reply already: no reminder needed")
    return set_reminder(records, message, due_at, now)


def clear_reminder(records: Records, message_id: str) -> bool:
    """Delete the email's reminder; False when it had none."""
    old = get_reminder(records, message_id)
    if old is None:
        return False
    if old.state == "scheduled":
        records.delete_record(Namespace.REMINDERS_DUE, _index_key(old))
    records.delete_record(Namespace.REMINDERS, message_id)
    return True


def cancel_on_reply(records: Records, message_id: str, at: datetime) -> Reminder | None:
    """A person replied: the reminder is not needed any more (kept, cancelled, for the page)."""
    old = get_reminder(records, message_id)
    if old is None or old.state not in ("scheduled", "due"):
        return old
    return _save(records, old, replace(old, state="cancelled", changed_at=at, reason="replied"))


def hold(records: Records, reminder: Reminder, until: datetime, now: datetime) -> Reminder:
    """Quiet hours: fire at ``until`` instead (the due time shown stays the same)."""
    held = replace(reminder, fire_at=until, changed_at=now, reason="held for quiet hours")
    return _save(records, reminder, held)


def mark_sent(records: Records, reminder: Reminder, now: datetime) -> Reminder:
    """The reminder went out: due, waiting for the user (or a reply)."""
    return _save(records, reminder, replace(reminder, state="due", changed_at=now, reason=""))


def apply_action(records: Records, message_id: str, action: str, now: datetime) -> Reminder:
    """A button or link on a reminder: ``snooze-1``, ``snooze-3`` or ``done``."""
    old = get_reminder(records, message_id)
    if old is None:
        raise InvalidInput("this email has no reminder any more")
    if action in SNOOZES:
        due = now + timedelta(days=SNOOZES[action])
        label = f"snoozed {SNOOZES[action]} day{'s' if SNOOZES[action] > 1 else ''}"
        new = replace(old, due_at=due, fire_at=due, state="scheduled", changed_at=now, reason=label)
    elif action == "done":
        new = replace(old, state="done", changed_at=now, reason="done")
    else:
        raise InvalidInput(f"unknown reminder action {action[:20]!r}")
    return _save(records, old, new)


# the scheduler ---------------------------------------------------------------------------------


def _claim(records: Records, key: str, now: datetime) -> bool:
    """Whether this process hands the reminder over now: the first claim wins, a claim left by
    a process that died is taken over after its lease, a handed-over one never again."""
    fresh = {"state": "claimed", "until": iso(now + CLAIM_LEASE)}
    if records.add_record(Namespace.REMINDER_FIRED, key, fresh):
        return True
    found = records.get_record(Namespace.REMINDER_FIRED, key) or {}
    if found.get("state") != "claimed" or parse_time(found["until"]) > now:
        return False
    records.put_record(Namespace.REMINDER_FIRED, key, fresh)
    return True


def _hours(first: str, last: str) -> list[str]:
    start = datetime.strptime(first, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    end = datetime.strptime(last, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    hours = []
    while start <= end:
        hours.append(start.strftime("%Y-%m-%dT%H"))
        start += timedelta(hours=1)
    return hours


def publish_due(records: Records, bus: Bus, now: datetime) -> int:
    """Hand every reminder due by ``now`` to the notifier (NOTIFY ``{"kind": "reminder"}``),
    once per due time; returns how many. Reads the index hour by hour from where the last
    sweep stopped (the first sweep ever reads it whole)."""
    current = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
    cursor = records.get_record(Namespace.REMINDER_SCAN, "cursor")
    if cursor is None:
        entries = records.list_records(Namespace.REMINDERS_DUE)
    else:
        entries = []
        # from an hour before the last sweep: another process's clock may be a little behind
        since = datetime.strptime(cursor["hour"], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        first = (since - timedelta(hours=1)).strftime("%Y-%m-%dT%H")
        for hour in _hours(min(first, current), current):
            entries += records.list_records(Namespace.REMINDERS_DUE, prefix=f"{hour}|")
    handed = 0
    for key, entry in entries:
        _hour, fire, message_id = key.split("|", 2)
        if int(fire) > now.timestamp():
            continue
        claim = f"{message_id}/{int(fire)}"
        if _claim(records, claim, now):
            payload = {"kind": "reminder", "message_id": message_id, "fire": int(fire)}
            bus.publish(NOTIFY, {**payload, "owner": entry.get("owner", "")})
            records.put_record(Namespace.REMINDER_FIRED, claim, {"state": "handed over"})
            handed += 1
        elif (records.get_record(Namespace.REMINDER_FIRED, claim) or {}).get("state") == "claimed":
            continue  # another process is handing it over: its entry stays until it has
        records.delete_record(Namespace.REMINDERS_DUE, key)
    records.put_record(Namespace.REMINDER_SCAN, "cursor", {"hour": current, "at": iso(now)})
    return handed

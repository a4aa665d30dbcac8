"""Which events notify, and how: pure rules over the event, its message's history and a time.

Nothing here does I/O. The handler gathers the inputs from the store and acts on the Decision,
so every rule (human only, notify levels, mutes, coalescing, quiet hours) is tested with an
injected clock and no servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbeacon.localtime import local
from mailbeacon.model import Event, Message, Notify, QuietHours, Settings

DEFAULT_WINDOW = timedelta(minutes=10)


class AlertKind(StrEnum):
    OPENED = "opened"
    OPENED_AGAIN = "opened-again"
    CLICKED = "clicked"
    REPLIED = "replied"


class Action(StrEnum):
    SEND = "send"  # deliver the alert now
    HOLD = "hold"  # quiet hours: keep for the next digest
    WAIT = "wait"  # inside a coalescing window: ask again at ``wait_until``
    DROP = "drop"  # nothing to say (machine hit, muted, off, absorbed by a later open)


@dataclass(frozen=True)
class Alert:
    """What a channel renders: one message, one triggering event and how many opens it covers."""

    kind: AlertKind
    message: Message
    event: Event
    count: int = 1

    @property
    def key(self) -> str:
        """The delivery idempotency key: one alert per triggering event."""
        return self.event.id

    @property
    def headline(self) -> str:
        subject = self.message.subject or "(no subject)"
        who = ", ".join(self.message.recipients[:3]) or "someone"
        if self.kind is AlertKind.CLICKED:
            return f"{who} clicked a link in “{subject}”"
        if self.kind is AlertKind.REPLIED:
            return f"{self.event.sender or who} replied to “{subject}”"
        if self.kind is AlertKind.OPENED_AGAIN:
            times = f" ({self.count} times)" if self.count > 1 else ""
            return f"“{subject}” was opened again{times}"
        return f"{who} opened “{subject}”"


@dataclass(frozen=True)
class LastAlert:
    """The latest open alert sent for a message: when, and up to which event time it covered."""

    sent_at: datetime
    covered_until: datetime


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    alert: Alert | None = None
    wait_until: datetime | None = None
    covered: tuple[str, ...] = field(default=())


def in_quiet_hours(quiet: QuietHours | None, timezone: str, now: datetime) -> bool:
    """Whether ``now`` falls in the user's quiet hours, read in the user's own time zone."""
    if quiet is None:
        return False
    try:
        hour = now.astimezone(ZoneInfo(timezone)).hour
    except (ZoneInfoNotFoundError, ValueError):
        hour = now.hour
    if quiet.start < quiet.end:
        return quiet.start <= hour < quiet.end
    return hour >= quiet.start or hour < quiet.end  # wraps past midnight, e.g. 22-7


def quiet_end(quiet: QuietHours, timezone: str, now: datetime) -> datetime:
    """The next moment the user's quiet hours end (their morning), in their own time zone."""
    here = local(now, timezone)  # an unknown zone reads as UTC
    end = here.replace(hour=quiet.end, minute=0, second=0, microsecond=0)
    if end <= here:
        end += timedelta(days=1)
    return end.astimezone(now.tzinfo)


def decide(
    event: Event,
    message: Message,
    settings: Settings,
    human_opens: list[Event],
    last_alert: LastAlert | None,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> Decision:
    """Decide what to do with one stored event.

    ``human_opens`` are the message's human open events (this one included if it is an open).
    The answer depends only on these inputs, so a redelivered event gets the same answer and
    the delivery log keeps it to one post per channel.
    """
    if not event.is_human:
        return Decision(Action.DROP, f"verdict {event.verdict.value} never notifies")
    if message.id in settings.muted:
        return Decision(Action.DROP, "this email is muted")
    if settings.notify is Notify.OFF:
        return Decision(Action.DROP, "notifications are off")
    if event.kind == "reply":
        if not settings.reply_alerts:
            return Decision(Action.DROP, "reply alerts are off")
        decision = Decision(Action.SEND, "a reply", Alert(AlertKind.REPLIED, message, event))
    elif event.kind == "click":
        decision = Decision(Action.SEND, "a click", Alert(AlertKind.CLICKED, message, event))
    else:
        decision = _decide_open(event, message, settings, human_opens, last_alert, now, window)
    if decision.action is Action.SEND and in_quiet_hours(
        settings.quiet_hours, settings.timezone, now
    ):
        return Decision(Action.HOLD, "quiet hours: kept for the digest", decision.alert)
    return decision


def _decide_open(
    event: Event,
    message: Message,
    settings: Settings,
    human_opens: list[Event],
    last_alert: LastAlert | None,
    now: datetime,
    window: timedelta,
) -> Decision:
    if settings.notify is Notify.CLICKS:
        return Decision(Action.DROP, "only clicks notify")
    ordered = sorted(human_opens, key=lambda e: (e.at, e.id))
    first = ordered[0] if ordered else event
    # An open processed after a later one (Pub/Sub's order, or two edge processes' spool
    # lanes) is the first by time, but the first-open alert already went out for the other.
    if first.id == event.id and last_alert is None:
        return Decision(Action.SEND, "first open", Alert(AlertKind.OPENED, message, event))
    if settings.notify is Notify.FIRST_OPEN:
        return Decision(Action.DROP, "only the first open notifies")
    covered_until = last_alert.covered_until if last_alert else first.at
    group = [e for e in ordered if e.at > covered_until]
    if event.id not in {e.id for e in group}:
        return Decision(Action.DROP, "already covered by an earlier alert")
    if last_alert is not None and now < last_alert.sent_at + window:
        return Decision(Action.WAIT, "coalescing", wait_until=last_alert.sent_at + window)
    if group[-1].id != event.id:
        return Decision(Action.DROP, "coalesced into a later open")
    alert = Alert(AlertKind.OPENED_AGAIN, message, event, count=len(group))
    return Decision(Action.SEND, "repeat opens", alert, covered=tuple(e.id for e in group))

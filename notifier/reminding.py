"""A due reminder, from the scheduler's hand-over to the user's channels.

NOTIFY ``{"kind": "reminder", "message_id", "fire"}`` comes once per due time from the
scheduler (mailbeacon/reminders.py), and again on any redelivery: a reminder that was
snoozed, done, cleared or answered since is dropped; one that falls in quiet hours is held for
the morning (a new due time, handed over then); otherwise it goes to every channel under the
key ``reminder:{message}:{fire}``, which the delivery log keeps to once per channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mailbeacon import reminders
from mailbeacon.clock import Clock
from mailbeacon.model import Settings
from mailbeacon.records import Namespace
from mailbeacon.store import Store

from .decide import in_quiet_hours, quiet_end
from .delivery import Channel
from .events_out import EventsOut, reminder_body
from .post import Post
from .reminder_notice import ReminderView, gmail_link, reminder_post, status_line
from .render import local_time

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """What a due reminder uses of the notifier (handler.Notifier has it)."""

    store: Store
    clock: Clock
    channels: list[Channel]
    dashboard_link: Callable[[str], str]
    action_link: Callable[[str, str], str]
    events_out: EventsOut | None

    def allowed(self, settings: Settings, channels: list[Channel]) -> list[Channel]: ...

    def post(self, post: Post, settings: Settings, channels: Sequence[Channel]) -> None: ...


def reminder_key(message_id: str, fire: int) -> str:
    return f"reminder:{message_id}:{fire}"


def handle_reminder(notifier: Notifier, payload: dict[str, Any]) -> str:
    """Deliver one due reminder, or say why not (for logs and tests)."""
    store, now = notifier.store, notifier.clock.now()
    message_id = str(payload.get("message_id", ""))
    message = store.get_message(message_id)
    reminder = reminders.get_reminder(store, message_id)
    if message is None or reminder is None:
        return "gone"
    if reminder.state != "scheduled" or reminder.fire_key != payload.get("fire"):
        return "stale"  # snoozed, done or cleared since it was handed over
    summary = store.get_summary(message_id)
    if summary is not None and summary.human_replies:
        reminders.cancel_on_reply(store, message_id, now)
        return "replied"
    settings = store.get_settings(message.owner)
    if settings.quiet_hours and in_quiet_hours(settings.quiet_hours, settings.timezone, now):
        morning = quiet_end(settings.quiet_hours, settings.timezone, now)
        reminders.hold(store, reminder, morning, now)
        return "held"
    key = reminder_key(message_id, reminder.fire_key)
    status = status_line(summary)
    view = ReminderView(
        key=key,
        message_id=message_id,
        subject=message.subject or "(no subject)",
        who=", ".join(message.recipients[:3]) or "someone",
        sent=local_time(message.reference_time, settings.timezone),
        status=status,
        dashboard_url=notifier.dashboard_link(message_id),
        gmail_url=gmail_link(
            message.owner, store.get_record(Namespace.SENT_MAIL, message_id), message.subject
        ),
        action_urls={a: notifier.action_link(message_id, a) for a in reminders.ACTIONS},
    )
    pending: Exception | None = None
    if notifier.events_out is not None:
        try:
            notifier.events_out.send(key, reminder_body(message, reminder, status), message.owner)
        except Exception as exc:  # the channels first; the bus brings the webhook back
            pending = exc
    channels = notifier.allowed(settings, [c for c in notifier.channels if c.enabled(settings)])
    if channels:
        notifier.post(reminder_post(view), settings, channels)
    if pending is not None:
        raise pending
    reminders.mark_sent(store, reminder, now)
    return "sent"

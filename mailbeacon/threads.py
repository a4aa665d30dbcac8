"""Which tracked email a thread message answers, and recording it once.

Two ways in, one record: the sent-mail watch (sentwatch.py, with domain-wide delegation) hands
over every message added to a watched mailbox, any label; without delegation the add-on hands
over the message the user opens in Gmail. Both run in the sender's mailbox, where Gmail's
thread ids are the sender's own, so a thread id learnt from the sent copy finds the tracked
email; a reply whose thread Gmail broke (a changed subject) still names the tracked email's
Message-ID in In-Reply-To or References. The event id comes from the Gmail message id, so the
watch, the add-on and every redelivery store one event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from . import reminders
from .bus import NOTIFY, Bus
from .clock import Clock, iso, parse_time
from .model import Event, Message, Verdict
from .records import Namespace, Records
from .replies import ThreadMail, judge_reply, reply_event
from .store import MessageEvents

log = logging.getLogger(__name__)

RECENT_SENDER = timedelta(days=30)
"""A message outside every known thread is read (for its In-Reply-To) only for users who sent
tracked mail this recently: one small metadata read per incoming message, not for everyone."""
SKIPPED_LABELS = frozenset({"DRAFT", "SENT", "SPAM", "TRASH", "CHAT"})


@dataclass(frozen=True)
class Added:
    """A message history.list says was added to a mailbox (it carries no headers)."""

    gmail_id: str
    thread_id: str
    labels: tuple[str, ...]


class ThreadReader(Protocol):
    """Gmail's users.messages.get(format=metadata) as ``user``."""

    def get_thread_mail(self, user: str, gmail_id: str) -> ThreadMail: ...


def learn_thread(
    records: Records, user: str, message_id: str, *, thread_id: str, rfc_message_id: str = ""
) -> None:
    """Remember the sender's Gmail thread (and RFC Message-ID) of a tracked email."""
    user = user.lower()
    if thread_id:
        records.put_record(Namespace.GMAIL_THREADS, f"{user}/{thread_id}", {"message": message_id})
    if rfc_message_id:
        key = f"{user}/{rfc_message_id.strip()}"
        records.put_record(Namespace.GMAIL_RFC_IDS, key, {"message": message_id})


class ReplyBook:
    """Finds and records thread messages of tracked emails; built once by the composition root."""

    def __init__(
        self,
        store: MessageEvents,
        records: Records,
        bus: Bus,
        clock: Clock,
        retention_for: Callable[[str], timedelta],
        stored: Callable[[Message, Event], None] | None = None,
    ) -> None:
        self.store, self.records, self.bus, self.clock = store, records, bus, clock
        self.retention_for = retention_for
        self.stored = stored

    def _owned(self, user: str, found: dict[str, object] | None) -> Message | None:
        if not found:
            return None
        message = self.store.get_message(str(found.get("message", "")))
        return message if message is not None and message.owner == user.lower() else None

    def by_thread(self, user: str, thread_id: str) -> Message | None:
        if not thread_id:
            return None
        key = f"{user.lower()}/{thread_id}"
        return self._owned(user, self.records.get_record(Namespace.GMAIL_THREADS, key))

    def tracked_for(self, user: str, mail: ThreadMail) -> Message | None:
        """The user's tracked email ``mail`` belongs to: by thread, else by the Message-IDs it
        answers (In-Reply-To, References)."""
        return self.by_thread(user, mail.thread_id) or self.by_references(user, mail)

    def by_references(self, user: str, mail: ThreadMail) -> Message | None:
        """The user's tracked email among the Message-IDs ``mail`` answers, the first found."""
        for rfc_id in mail.references:
            key = f"{user.lower()}/{rfc_id}"
            found = self._owned(user, self.records.get_record(Namespace.GMAIL_RFC_IDS, key))
            if found:
                return found
        return None

    def record(self, message: Message, mail: ThreadMail) -> Event | None:
        """Store ``mail`` as ``message``'s reply event (a person's, or a machine's with its
        reasons); a person's reply ends the email's reminder and goes to the notifier (every
        time: it is idempotent per event and channel). None when it is nobody's answer."""
        judged = judge_reply(mail, message)
        if judged is None:
            return None
        kept = self.retention_for(message.owner)
        event = reply_event(message, mail, judged, mail.at + kept)
        if self.store.add_event(event, live_at=self.clock.now()) and self.stored is not None:
            self.stored(message, event)
        if event.verdict is Verdict.HUMAN:
            reminders.cancel_on_reply(self.records, message.id, event.at)
            handoff = {"event_id": event.id, "message_id": message.id, "owner": message.owner}
            self.bus.publish(NOTIFY, handoff)
        return event

    def from_watch(
        self, reader: ThreadReader, user: str, added: Iterable[Added], *, sent_recently: bool
    ) -> list[Event]:
        """Messages the watch saw added to ``user``'s mailbox: read and record those in a
        tracked thread (and, for a recent sender, those outside every thread, for their
        In-Reply-To). Drafts, the user's own sent mail, spam and trash are never read."""
        recorded = []
        for item in added:
            if SKIPPED_LABELS.intersection(item.labels):
                continue
            message = self.by_thread(user, item.thread_id)
            if message is None and not sent_recently:
                continue
            mail = reader.get_thread_mail(user, item.gmail_id)
            if message is None and mail.thread_id != item.thread_id:  # else already read
                message = self.by_thread(user, mail.thread_id)
            message = message or self.by_references(user, mail)
            if message is not None and (event := self.record(message, mail)) is not None:
                recorded.append(event)
        return recorded


def sent_recently(state: dict[str, object], now: datetime) -> bool:
    """Whether the watch state says the user sent tracked mail within RECENT_SENDER."""
    last = state.get("last_sent_at")
    return isinstance(last, str) and bool(last) and now - parse_time(last) <= RECENT_SENDER


def mark_sent(state: dict[str, object], at: datetime) -> dict[str, object]:
    """The watch state with ``at`` as the latest tracked send, if it is later."""
    last = state.get("last_sent_at")
    if isinstance(last, str) and last and parse_time(last) >= at:
        return state
    return {**state, "last_sent_at": iso(at)}

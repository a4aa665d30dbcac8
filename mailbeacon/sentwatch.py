"""Sent-mail watch: learn from Gmail itself when a tracked email really left, and to whom,
and hear of every reply in its thread.

The add-on registers a message while it is still a draft: the send time is a guess and
recipients added afterwards are unknown. With domain-wide delegation, Gmail tells us about
every message added to a user's SENT label (users.watch into Pub/Sub); we read the history
since the last id we handled, fetch each new sent message, find our pixel's signed token in its
HTML and record the real send time (what the timing rules count from), the RFC Message-ID and
the final To and Cc, and its Gmail thread. The watch has no label filter (a SENT-only watch
never hears of replies, an INBOX one misses replies a filter archives): messages added to
other labels go to threads.py, which records those answering a tracked email. Drafts tracked
but never seen sent are marked so. With ``gmail.modify``
and the user's opt-in, the sent message gets a ``Mailbeacon/Opened`` or ``Mailbeacon/Clicked``
label on the first human open or click, as Mailtrack's ticks do on phones.

Gmail's API sits behind the ``Mailbox`` port; mailbeacon/google/gmail.py is the real one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from .clock import iso
from .errors import InvalidToken, MailbeaconError
from .model import Event
from .records import Namespace, Records
from .replies import ThreadMail
from .store import MessageStore
from .threads import Added, ReplyBook, learn_thread, mark_sent, sent_recently
from .tokens import TokenSigner
from .validation import whole_number

log = logging.getLogger(__name__)

PIXEL_PATH = re.compile(r"/p/([A-Za-z0-9_-]{20,600})\.gif")
RESYNC_LIMIT = 100
"""When the stored history id has expired: how many of the latest sent messages to read."""
UNSENT_AFTER = timedelta(days=3)
OPENED, CLICKED = "Mailbeacon/Opened", "Mailbeacon/Clicked"


@dataclass(frozen=True)
class SentWatchConfig:
    """MAILBEACON_GMAIL_WATCH_TOPIC (``projects/P/topics/T``; empty: no watch),
    MAILBEACON_GMAIL_LABELS (on: ask for gmail.modify and label opened mail) and
    MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT (who Pub/Sub's push to /gmail/push signs as)."""

    topic: str | None = None
    labels: bool = False
    push_service_accounts: tuple[str, ...] = ()


class HistoryExpired(MailbeaconError):
    """Gmail no longer has history from the stored id (404 on history.list): resync."""


@dataclass(frozen=True)
class SentMail:
    """A message in the user's SENT label, reduced to what we record."""

    gmail_id: str
    rfc_message_id: str
    sent_at: datetime
    to: tuple[str, ...]
    cc: tuple[str, ...]
    html: str
    thread_id: str = ""


class Mailbox(Protocol):
    """The Gmail API calls the watch needs, acting as ``user`` (domain-wide delegation)."""

    def watch(self, user: str, topic: str) -> tuple[str, datetime]:
        """users.watch, every label: (the mailbox's current history id, when it stops)."""

    def added_since(self, user: str, history_id: str) -> tuple[list[Added], str]:
        """Messages added to the mailbox after ``history_id`` (any label), and the newest
        history id; HistoryExpired when Gmail no longer keeps that history."""

    def get_thread_mail(self, user: str, gmail_id: str) -> ThreadMail:
        """A message's headers, labels and thread (format=metadata): is it a reply?"""

    def recent_sent(self, user: str, limit: int) -> list[str]:
        """Ids of the user's latest sent messages (the bounded resync)."""

    def get_sent(self, user: str, gmail_id: str) -> SentMail: ...

    def label_id(self, user: str, name: str) -> str:
        """The id of the user's label ``name``, created if missing."""

    def add_label(self, user: str, gmail_id: str, label_id: str) -> None: ...


def watched_users(records: Records) -> list[str]:
    """Everyone who tracked mail (the senders each domain's overview counts)."""
    senders = records.list_records(Namespace.DOMAIN_SENDERS)
    return sorted({key.partition("/")[2] for key, _ in senders})


def renew_watches(
    mailbox: Mailbox, records: Records, users: Iterable[str], topic: str, now: datetime
) -> int:
    """Start or renew each user's watch (Gmail stops after 7 days: run daily). The first
    watch stores the history id to read from; a renewal keeps the one not yet handled."""
    renewed = 0
    for user in users:
        try:
            history_id, expires = mailbox.watch(user, topic)
        except MailbeaconError as exc:
            log.warning("gmail watch for a user failed: %s", exc)
            continue
        state = records.get_record(Namespace.GMAIL_WATCHES, user) or {"history_id": history_id}
        state |= {"expires": iso(expires), "renewed_at": iso(now)}
        records.put_record(Namespace.GMAIL_WATCHES, user, state)
        renewed += 1
    return renewed


def handle_push(
    mailbox: Mailbox,
    store: MessageStore,
    records: Records,
    signer: TokenSigner,
    data: dict[str, Any],
    *,
    replies: ReplyBook | None = None,
    resync_limit: int = RESYNC_LIMIT,
) -> list[str]:
    """One Pub/Sub notification ``{"emailAddress", "historyId"}``: record every tracked
    message sent since the stored history id, and (with ``replies``) every message answering
    one. Returns the ids of our messages it saw sent."""
    user = str(data.get("emailAddress", "")).lower()
    state = records.get_record(Namespace.GMAIL_WATCHES, user)
    if state is None:
        log.info("gmail push for an unwatched mailbox ignored")
        return []
    pushed = str(data.get("historyId", ""))
    try:
        added, newest = mailbox.added_since(user, state["history_id"])
    except HistoryExpired:
        log.warning("gmail history expired: reading the latest %s sent messages", resync_limit)
        recent = mailbox.recent_sent(user, resync_limit)
        added, newest = [Added(i, "", ("SENT",)) for i in recent], pushed
    matched = []
    for item in added:
        if "SENT" in item.labels and (
            sent := record_sent_mail(mailbox, store, records, signer, user, item.gmail_id)
        ):
            found, sent_at = sent
            matched.append(found)
            state = mark_sent(state, sent_at)
    if replies is not None:
        recently = sent_recently(state, replies.clock.now())
        replies.from_watch(mailbox, user, added, sent_recently=recently)
    ids = (newest, pushed, state["history_id"])
    latest = max((h for h in ids if whole_number(h, digits=30) is not None), key=int)
    records.put_record(Namespace.GMAIL_WATCHES, user, {**state, "history_id": latest})
    return matched


def record_sent_mail(
    mailbox: Mailbox,
    store: MessageStore,
    records: Records,
    signer: TokenSigner,
    user: str,
    gmail_id: str,
) -> tuple[str, datetime] | None:
    """If the sent message carries a pixel of the user's, record how it really left: (the
    message's id, the time it was sent) as recorded."""
    mail = mailbox.get_sent(user, gmail_id)
    for token in dict.fromkeys(PIXEL_PATH.findall(mail.html)):
        try:
            claims = signer.verify(token)
        except InvalidToken:
            continue
        message = store.get_message(claims.message_id) if claims.kind == "open" else None
        if message is None or message.owner != user:
            continue  # a quoted pixel of someone else's email
        recipients = tuple(dict.fromkeys(a.lower() for a in (*mail.to, *mail.cc)))
        final = recipients or message.recipients
        store.record_sent(message.id, sent_at=mail.sent_at, recipients=final)
        records.put_record(
            Namespace.SENT_MAIL,
            message.id,
            {
                "user": user,
                "gmail_id": mail.gmail_id,
                "rfc_message_id": mail.rfc_message_id,
                "sent_at": iso(mail.sent_at),
                "to": list(mail.to),
                "cc": list(mail.cc),
            },
        )
        records.delete_record(Namespace.UNSENT, message.id)
        learn_thread(
            records,
            user,
            message.id,
            thread_id=mail.thread_id,
            rfc_message_id=mail.rfc_message_id,
        )
        return message.id, mail.sent_at
    return None


def mark_unsent(
    store: MessageStore,
    records: Records,
    users: Iterable[str],
    now: datetime,
    after: timedelta = UNSENT_AFTER,
) -> list[str]:
    """Mark the users' tracked drafts that were not seen sent ``after`` tracking them."""
    marked = []
    for user in users:
        for message in store.list_messages(user, limit=200, before=now - after):
            if records.get_record(Namespace.SENT_MAIL, message.id) is None and records.add_record(
                Namespace.UNSENT, message.id, {"user": user, "marked_at": iso(now)}
            ):
                marked.append(message.id)
    return marked


def sent_status(records: Records, message_id: str) -> dict[str, Any] | None:
    """What the watch learnt of a message: ``{"sent": true, ...}``, ``{"sent": false}`` for a
    draft never sent, None when it knows nothing (no watch)."""
    sent = records.get_record(Namespace.SENT_MAIL, message_id)
    if sent is not None:
        return {"sent": True, **{k: v for k, v in sent.items() if k != "user"}}
    if records.get_record(Namespace.UNSENT, message_id) is not None:
        return {"sent": False}
    return None


def set_label_opt_in(records: Records, user: str, on: bool, now: datetime) -> None:
    if on:
        records.put_record(Namespace.LABEL_OPT_IN, user.lower(), {"since": iso(now)})
    else:
        records.delete_record(Namespace.LABEL_OPT_IN, user.lower())


def labels_wanted(records: Records, message_id: str) -> bool:
    """Whether the message was seen sent by a user who asked for labels (two record reads)."""
    sent = records.get_record(Namespace.SENT_MAIL, message_id)
    return sent is not None and records.get_record(Namespace.LABEL_OPT_IN, sent["user"]) is not None


def label_first_human(
    mailbox: Mailbox, store: MessageStore, records: Records, event: Event, now: datetime
) -> str | None:
    """Label the sent message on its first human open or click; never for machine hits, once
    per label however often the event is redelivered. Returns the label put, if any."""
    if not event.is_human:
        return None
    sent = records.get_record(Namespace.SENT_MAIL, event.message_id)
    if sent is None or records.get_record(Namespace.LABEL_OPT_IN, sent["user"]) is None:
        return None
    name = CLICKED if event.kind == "click" else OPENED
    key = f"{event.message_id}/{name}"
    if not records.add_record(Namespace.GMAIL_LABELS, key, {"at": iso(now), "event": event.id}):
        return None
    try:
        mailbox.add_label(sent["user"], sent["gmail_id"], mailbox.label_id(sent["user"], name))
    except Exception:
        records.delete_record(Namespace.GMAIL_LABELS, key)  # retried with the redelivery
        raise
    return name


def daily_renewal(
    mailbox: Mailbox, store: MessageStore, records: Records, topic: str, now: datetime
) -> int:
    """The daily job (`serve`'s own thread, or Cloud Scheduler's POST /gmail/renew): renew
    every sender's watch and mark the drafts never seen sent. Returns how many were renewed."""
    users = watched_users(records)
    renewed = renew_watches(mailbox, records, users, topic, now)
    mark_unsent(store, records, users, now)
    return renewed

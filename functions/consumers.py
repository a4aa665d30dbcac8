"""What each bus topic does: the table of topic -> use case, and the few steps that join them.

`mailbeacon serve`'s worker process, cluster mode's pull worker and each Cloud Function's
Pub/Sub entry point all hand a topic's payloads to ``Consumers.table()``; the composition root
builds one ``Consumers`` with the ports it needs and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mailbeacon import reminders
from mailbeacon.bus import DIGEST, HITS, NOTIFY, BatchHandler, Bus, Handler
from mailbeacon.bus.fallback import is_sweep, sweep
from mailbeacon.clock import Clock
from mailbeacon.errors import MailbeaconError
from mailbeacon.model import Event, Message
from mailbeacon.pipeline import Classifier, process_hits
from mailbeacon.policy import PolicyBook
from mailbeacon.records import Records
from mailbeacon.sentwatch import (
    Mailbox,
    daily_renewal,
    handle_push,
    label_first_human,
    labels_wanted,
)
from mailbeacon.store import MessageEvents
from mailbeacon.threads import ReplyBook
from mailbeacon.tokens import TokenSigner
from notifier.handler import RECENT_EVENTS, Notifier
from notifier.slack_actions import INTERACTION

log = logging.getLogger(__name__)


@dataclass
class Consumers:
    """The pipeline's consumers over the ports they use."""

    store: MessageEvents
    records: Records
    bus: Bus
    classifier: Classifier
    clock: Clock
    notifier: Notifier
    policies: PolicyBook
    signer: TokenSigner
    retention: timedelta
    """The server's retention; a domain's policy may shorten it for its senders."""
    mailbox: Callable[[], Mailbox | None]
    """Gmail as each user (domain-wide delegation), built on first use; None when not set up."""
    gmail_labels: bool = False
    gmail_topic: str | None = None
    """The sent-mail watch's Pub/Sub topic; None: no watch."""
    wake_live_pages: Callable[[], None] | None = None
    """Set by a process that serves live pages: told when an event is stored."""
    replies: ReplyBook | None = None
    """Records replies the Gmail watch hears of (set by the composition root)."""
    slack_interaction: Callable[[dict[str, Any]], Any] | None = None
    """An acknowledged Slack interaction's work (notifier.slack_actions.apply_interaction)."""

    def table(self) -> dict[str, Handler]:
        return {HITS: self.hit, NOTIFY: self.notify, DIGEST: self.scheduled}

    def scheduled(self, payload: dict[str, Any]) -> Any:
        """DIGEST: Cloud Scheduler's daily digest, or (``{"job": "reminders"}``, every five
        minutes) the due reminders."""
        if payload.get("job") == reminders.SCAN_PAYLOAD["job"]:
            return self.publish_due_reminders()
        return self.notifier.handle_digest(payload)

    def publish_due_reminders(self) -> int:
        """Hand every reminder due now to the notifier, once per due time."""
        return reminders.publish_due(self.records, self.bus, self.clock.now())

    def batches(self) -> dict[str, BatchHandler]:
        """Topics a worker may deliver several payloads of at once (one transaction locally)."""
        return {HITS: self.hits}

    def retention_for(self, owner: str) -> timedelta:
        """How long an event of ``owner``'s is kept: the server's retention or their policy's."""
        return self.policies.of(owner).retention(self.retention)

    def hit(self, payload: dict[str, Any]) -> None:
        """HITS, one at a time (a Cloud Function receives them so)."""
        self.hits([payload])

    def hits(self, payloads: list[dict[str, Any]]) -> None:
        """HITS in a batch: one context read per message, one transaction locally. The
        scheduler's sweep request (on the same topic) republishes the hits the edge kept
        while Pub/Sub refused them."""
        if any(is_sweep(p) for p in payloads):
            sweep(self.records, self.bus)
            payloads = [p for p in payloads if not is_sweep(p)]
        process_hits(
            self.store,
            self.bus,
            self.classifier,
            payloads,
            retention=self.retention,
            retention_for=self.retention_for,
            stored=self.wake,
            live_at=self.clock.now,
        )

    def wake(self, _message: Message, _event: Event) -> None:
        """The store put the event in the live feed: wake the pages waiting for it."""
        if self.wake_live_pages is not None:
            self.wake_live_pages()

    def notify(self, payload: dict[str, Any]) -> Any:
        """NOTIFY: label the sent message in Gmail (if asked for), then alert the owner; the
        message's recent events are read once for both."""
        if INTERACTION in payload:  # acknowledged by the Slack route, done here
            if self.slack_interaction is not None and isinstance(payload[INTERACTION], dict):
                return self.slack_interaction(payload[INTERACTION])
            return None
        message_id = str(payload.get("message_id", ""))
        mailbox = self.mailbox() if self.gmail_labels else None
        if mailbox is None or not labels_wanted(self.records, message_id):
            return self.notifier.handle(payload)
        events = self.store.list_events(message_id, limit=RECENT_EVENTS)
        event = next((e for e in events if e.id == payload.get("event_id")), None)
        if event is not None:
            self.notifier.settle(event)  # a label is an alert too: not for a walk's first hit
            try:
                label_first_human(mailbox, self.store, self.records, event, self.clock.now())
            except MailbeaconError as exc:
                log.warning("gmail label not set: %s", exc)
        return self.notifier.handle(payload, events=events)

    def gmail_push(self, data: dict[str, Any]) -> list[str]:
        """One Gmail notification ``{"emailAddress", "historyId"}`` (the /gmail/push route):
        record the tracked mail sent since the last one."""
        mailbox = self.mailbox()
        if mailbox is None:
            return []
        return handle_push(
            mailbox, self.store, self.records, self.signer, data, replies=self.replies
        )

    def renew_gmail_watches(self) -> int:
        """Cloud Scheduler's daily POST /gmail/renew (serve runs the same job itself)."""
        mailbox = self.mailbox()
        if mailbox is None or not self.gmail_topic:
            return 0
        return daily_renewal(mailbox, self.store, self.records, self.gmail_topic, self.clock.now())

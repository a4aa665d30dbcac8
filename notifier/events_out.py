"""Events out: each person's open, click and reply, and each reminder, to the owner's webhook
and to their domain's (a CRM sync set by the admins), whatever the alert settings say.

Alerts are for people (coalesced, quiet hours, notify levels); events are for systems: every
human event goes out as it is stored, once per (event, endpoint) through the delivery log,
retried with backoff (10 s doubling-ish to 6 h, eight attempts, about 15 hours; the bus holds
the message meanwhile), each failure that retrying cannot mend shown as a problem: in the
user's settings for their own endpoint, in the admins' for the domain's.
"""

from __future__ import annotations

import logging
from typing import Any

from mailbeacon.clock import Clock, iso
from mailbeacon.errors import DeliveryFailed, RetryLater
from mailbeacon.model import Event, Message
from mailbeacon.policy import policy_for
from mailbeacon.records import Namespace, Records
from mailbeacon.reminders import Reminder
from mailbeacon.settings import SettingsBook

from .channels.webhook import Endpoint, WebhookSender
from .delivery import DeliveryLog

log = logging.getLogger(__name__)

TYPES = {"open": "email.opened", "click": "email.clicked", "reply": "email.replied"}
BACKOFF = (10.0, 60.0, 300.0, 1800.0, 7200.0, 18000.0, 21600.0)
"""Seconds before the 2nd ... 8th attempt (the spec's example schedule, capped at the 6 h the
notifier's retry policy accepts); after the 8th, the failure is permanent."""
MAX_SUBJECT = 500


def event_body(message: Message, event: Event) -> dict[str, Any]:
    """``{"type", "timestamp", "data"}`` for a stored event (verdict and reasons included)."""
    data: dict[str, Any] = {
        "message_id": message.id,
        "subject": message.subject[:MAX_SUBJECT],
        "verdict": event.verdict.value,
        "reasons": list(event.reasons),
        "event_id": event.id,
        "at": iso(event.at),
        "client": event.client,
        "recipients": list(message.recipients[:50]),
        "sent_at": iso(message.sent_at),
    }
    if event.kind == "click":
        data |= {"url": event.url, "link_index": event.link_index}
    if event.kind == "reply":
        data["from"] = event.sender
    return {"type": TYPES[event.kind], "timestamp": iso(event.at), "data": data}


def reminder_body(message: Message, reminder: Reminder, status: str) -> dict[str, Any]:
    """``reminder.due``: nobody replied by the time the user asked about."""
    data = {
        "message_id": message.id,
        "subject": message.subject[:MAX_SUBJECT],
        "verdict": None,
        "reasons": ["no-reply"],
        "due_at": iso(reminder.due_at),
        "status": status,
        "recipients": list(message.recipients[:50]),
        "sent_at": iso(message.sent_at),
    }
    return {"type": "reminder.due", "timestamp": iso(reminder.fire_at), "data": data}


class EventsOut:
    """Delivers event bodies to an owner's endpoints; built once by the composition root."""

    def __init__(
        self,
        records: Records,
        book: SettingsBook,
        deliveries: DeliveryLog,
        sender: WebhookSender,
        clock: Clock,
    ) -> None:
        self.records, self.book, self.deliveries = records, book, deliveries
        self.sender, self.clock = sender, clock

    def endpoints(self, owner: str) -> list[tuple[Endpoint, tuple[str, ...]]]:
        """(endpoint, whom its problems are shown to) for the owner's and their domain's."""
        found = []
        settings = self.book.get(owner)
        policy = policy_for(self.records, owner)
        if settings.webhook_url and settings.webhook_secret:
            if policy.user_webhooks:
                own = Endpoint("webhook", settings.webhook_url, settings.webhook_secret)
                found.append((own, (settings.user,)))
            else:
                problem = "webhook: personal webhooks are off under your domain policy"
                self.book.record_problem(settings.user, problem, self.clock.now())
        if policy.webhook_url and policy.webhook_secret:
            domain = Endpoint("webhook-domain", policy.webhook_url, policy.webhook_secret)
            found.append((domain, policy.admins))
        return found

    def send(
        self,
        key: str,
        body: dict[str, Any],
        owner: str,
        endpoints: list[tuple[Endpoint, tuple[str, ...]]] | None = None,
    ) -> None:
        """Deliver ``body`` (once per key and endpoint) to every endpoint of ``owner``'s (or to
        ``endpoints``, when the caller has read them already); RetryLater when one of them
        should be tried again later."""
        waits = []
        for endpoint, report_to in self.endpoints(owner) if endpoints is None else endpoints:
            try:
                self._one(endpoint, key, body, report_to)
            except RetryLater as exc:
                waits.append(exc.seconds)
        if waits:
            raise RetryLater(min(waits), "a webhook will be tried again")

    def _one(
        self, endpoint: Endpoint, key: str, body: dict[str, Any], report_to: tuple[str, ...]
    ) -> None:
        claim = f"{key}/{endpoint.name}"
        if not self.deliveries.claim(claim):
            return
        try:
            self.sender.send(endpoint, key, body, self.clock.now())
        except DeliveryFailed as exc:
            attempts = self._attempted(claim)
            if exc.permanent or attempts > len(BACKOFF):
                gave_up = "" if exc.permanent else f" (gave up after {attempts} attempts)"
                self._failed(claim, endpoint, exc.detail + gave_up, report_to)
                return
            self.deliveries.release(claim)
            raise RetryLater(max(BACKOFF[attempts - 1], exc.retry_after or 0.0), str(exc)) from exc
        except Exception:
            self.deliveries.release(claim)
            raise
        self.deliveries.settle(claim, "sent")
        self.records.delete_record(Namespace.WEBHOOK_ATTEMPTS, claim)

    def _attempted(self, claim: str) -> int:
        found = self.records.get_record(Namespace.WEBHOOK_ATTEMPTS, claim) or {}
        attempts = int(found.get("n", 0)) + 1
        value = {"n": attempts, "at": iso(self.clock.now())}
        self.records.put_record(Namespace.WEBHOOK_ATTEMPTS, claim, value)
        return attempts

    def _failed(
        self, claim: str, endpoint: Endpoint, detail: str, report_to: tuple[str, ...]
    ) -> None:
        self.deliveries.settle(claim, "failed", detail)
        log.warning("permanent %s failure: %s", endpoint.name, detail)
        for user in report_to:
            self.book.record_problem(user, f"{endpoint.name}: {detail}", self.clock.now())

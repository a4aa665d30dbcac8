"""Deliver each (alert, channel) once, however often the bus hands us the same message.

The store's insert-if-absent record is the idempotency log. A delivery is *claimed* with a
lease before the send and marked *sent* after it. The crash window between the send and the
mark is closed as far as the channel allows: a claim whose lease ran out is taken over (one
winner per generation, again by insert-if-absent) and sent again, so an alert is never lost;
the Chat app's ``client-`` message id makes that resend a no-op, while a webhook may, in that
rare crash case only, show the alert twice. Permanent failures are marked *failed* and written
into the user's Settings.problems, where `mailbeacon settings`, the dashboard and the add-on
show them. So are transient ones that outlast the policy's ``horizon``, counted from the
first try (kept in the claim record across redeliveries): nothing is given up in silence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from mailbeacon.clock import Clock, iso, parse_time
from mailbeacon.errors import DeliveryFailed, InvalidInput, RetryLater
from mailbeacon.model import Settings
from mailbeacon.records import Namespace, Records
from mailbeacon.redact import redact
from mailbeacon.settings import SettingsBook

from .post import Post
from .retry import RetryPolicy

log = logging.getLogger(__name__)

DELIVERIES = Namespace.DELIVERIES


Sent = dict[str, str] | None
"""What a channel returns from a send: where the message now is (a Slack DM's channel and
``ts``, a Chat message's name), kept with the delivery so a correction can edit it; None
where nothing can be edited later (webhooks, email, Web Push)."""


class Channel(Protocol):
    """One way of telling a user. ``send`` raises DeliveryFailed; it never returns an error."""

    name: str
    self_retrying: bool
    """True when the channel's SDK already retries with our policy (no second retry loop)."""

    def enabled(self, settings: Settings) -> bool: ...

    def send(self, post: Post, settings: Settings) -> Sent: ...


@runtime_checkable
class Correctable(Channel, Protocol):
    """A channel whose messages can be edited after they were sent (Slack's chat.update,
    Chat's spaces.messages.patch): an alert for a hit hindsight relabelled is corrected."""

    def correct(self, post: Post, settings: Settings, sent: dict[str, str]) -> None: ...


class DeliveryLog:
    """Claim / sent / failed states per (key, channel), on the records API."""

    def __init__(
        self,
        store: Records,
        clock: Clock,
        lease: timedelta = timedelta(seconds=60),
        on_failed: Callable[[str, str], None] | None = None,
    ):
        self.store = store
        self.clock = clock
        self.lease = lease
        self.on_failed = on_failed
        """Told (key, detail) of every delivery given up: the worker's health counts them."""

    def claim(self, key: str) -> bool:
        """True if this worker should send now; False if it is already settled.

        Raises RetryLater while another worker holds a live lease on the same delivery.
        """
        now = self.clock.now()
        fresh = {"state": "sending", "gen": 0, "until": iso(now + self.lease), "since": iso(now)}
        if self.store.add_record(DELIVERIES, key, fresh):
            return True
        record = self.store.get_record(DELIVERIES, key) or {}
        if record.get("state") in ("sent", "failed"):
            return False
        until = parse_time(record["until"]) if record.get("until") else now
        if until > now:
            raise RetryLater((until - now).total_seconds(), f"{key} is being delivered")
        generation = int(record.get("gen", 0)) + 1
        if not self.store.add_record(DELIVERIES, f"{key}#{generation}", {"at": iso(now)}):
            raise RetryLater(self.lease.total_seconds(), f"{key} was taken over")
        taken = {"state": "sending", "gen": generation, "until": iso(now + self.lease)}
        self.store.put_record(DELIVERIES, key, {**taken, "since": record.get("since") or iso(now)})
        return True

    def release(self, key: str) -> datetime | None:
        """Give up the lease after a transient failure so the next delivery retries at once;
        returns when this delivery was first tried (None if it is not known)."""
        record = self.store.get_record(DELIVERIES, key) or {}
        if record.get("state") == "sending":
            self.store.put_record(DELIVERIES, key, {**record, "until": iso(self.clock.now())})
        try:
            return parse_time(record["since"]) if record.get("since") else None
        except ValueError:
            return None

    def settle(self, key: str, state: str, detail: str = "", sent: Sent = None) -> None:
        value: dict[str, object] = {"state": state, "at": iso(self.clock.now())}
        if detail:
            value["detail"] = redact(detail)[:300]
        if sent:
            value["sent"] = dict(sent)
        self.store.put_record(DELIVERIES, key, value)
        if state == "failed" and self.on_failed is not None:
            self.on_failed(key, value.get("detail", ""))

    def sent(self, key: str) -> dict[str, str] | None:
        """Where a delivered message is (the channel's ``Sent``), if it was delivered."""
        record = self.store.get_record(DELIVERIES, key) or {}
        found = record.get("sent") if record.get("state") == "sent" else None
        return dict(found) if isinstance(found, dict) else None

    def state(self, key: str) -> str | None:
        record = self.store.get_record(DELIVERIES, key)
        return record.get("state") if record else None


def deliver(
    channel: Channel,
    post: Post,
    settings: Settings,
    *,
    deliveries: DeliveryLog,
    book: SettingsBook,
    policy: RetryPolicy,
) -> str:
    """Send ``post`` on ``channel`` at most once per key; returns what happened.

    Transient failures are raised (RetryLater for long waits) after releasing the claim, so the
    bus redelivers and only undelivered channels are tried again, until ``policy.horizon``
    after the first try: then the delivery is given up like a permanent failure.
    """
    key = f"{post.key}/{channel.name}"
    if not deliveries.claim(key):
        return "already"
    try:
        sent = _send(channel, post, settings, policy)
    except DeliveryFailed as exc:
        if not exc.permanent and policy.gives_up(exc):
            exc = DeliveryFailed(
                channel.name,
                f"{exc.detail} (asked to wait {exc.retry_after:g}s, longer than we keep an alert)",
                permanent=True,
                status=exc.status,
            )
        if not exc.permanent:
            given_up = _past_horizon(deliveries, key, policy, exc.detail)
            if given_up is None:
                raise policy.settle(exc) from exc
            exc = DeliveryFailed(channel.name, given_up, permanent=True, status=exc.status)
        return _failed(channel, key, exc.detail, settings, deliveries, book)
    except Exception as exc:  # an SDK surprise: retried by the bus like a 5xx, as long
        given_up = _past_horizon(deliveries, key, policy, repr(exc)[:200])
        if given_up is None:
            raise
        return _failed(channel, key, given_up, settings, deliveries, book)
    deliveries.settle(key, "sent", sent=sent)
    return "sent"


def _send(channel: Channel, post: Post, settings: Settings, policy: RetryPolicy) -> Sent:
    try:
        if channel.self_retrying:
            return channel.send(post, settings)  # its SDK retries with the same policy
        return policy.call(lambda: channel.send(post, settings))
    except ImportError as exc:
        # A missing package stays missing: retrying would loop until the row dead-letters
        # and the user would never learn why nothing arrives.
        raise DeliveryFailed(
            channel.name, f"not installed on this server ({exc.name or exc})", permanent=True
        ) from exc
    except InvalidInput as exc:  # the alert itself cannot be built: no retry will help
        detail = f"cannot build the alert: {exc}"
        raise DeliveryFailed(channel.name, detail, permanent=True) from exc


def _past_horizon(
    deliveries: DeliveryLog, key: str, policy: RetryPolicy, detail: str
) -> str | None:
    """Release the claim after a transient failure; past the horizon, why it is given up."""
    since = deliveries.release(key)
    failing = (deliveries.clock.now() - since).total_seconds() if since else 0.0
    if failing < policy.horizon:
        return None
    return f"gave up after {_span(failing)} of failed attempts, the last: {detail}"


def _failed(
    channel: Channel,
    key: str,
    detail: str,
    settings: Settings,
    deliveries: DeliveryLog,
    book: SettingsBook,
) -> str:
    """A delivery given up: marked failed, and shown to its owner as a problem."""
    deliveries.settle(key, "failed", detail)
    book.record_problem(settings.user, f"{channel.name}: {detail}", deliveries.clock.now())
    log.warning("%s alert for %s given up: %s", channel.name, settings.user, detail)
    return "failed"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""The NOTIFY consumer: load what `decide` needs, act on its Decision, deliver on each channel.

Payload ``{"event_id", "message_id"}`` is published for every human event, also again when a
hit is redelivered; everything here is idempotent per (event, channel).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from mailbeacon.clock import Clock, iso, parse_time
from mailbeacon.errors import DeliveryFailed, RetryLater
from mailbeacon.model import Event, Message, Settings
from mailbeacon.policy import policy_for
from mailbeacon.records import Namespace
from mailbeacon.settings import SettingsBook, register_digest_user
from mailbeacon.store import Store

from .config import NotifierConfig
from .decide import Action, Alert, AlertKind, Decision, LastAlert, decide
from .delivery import DELIVERIES, Channel, Correctable, DeliveryLog, deliver
from .digest import HELD, build_digest, digest_post
from .digest import USERS as DIGEST_USERS
from .events_out import EventsOut, event_body
from .post import Post
from .render import AlertView
from .retry import RetryPolicy

log = logging.getLogger(__name__)

LAST_ALERT = Namespace.LAST_ALERT
DIGEST_SENT = Namespace.DIGEST_SENT


def channel_family(name: str) -> str:
    """The policy's name for a channel: slack-app and slack-webhook are both "slack"."""
    family = name.split("-")[0]
    return "browser" if family in ("web", "webpush", "push", "browser") else family


RECENT_EVENTS = 500  # an alert concerns a just-recorded event; older history is not needed


class Notifier:
    """Decides and delivers alerts; built once by bootstrap with its channels."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        channels: Sequence[Channel],
        *,
        book: SettingsBook,
        dashboard_link: Callable[[str], str],
        policy: RetryPolicy | None = None,
        window: timedelta = timedelta(minutes=10),
        config: NotifierConfig | None = None,
        publish_digest: Callable[[dict[str, Any]], None] | None = None,
        dashboard_home: Callable[[], str] | None = None,
        on_failed: Callable[[str, str], None] | None = None,
        events_out: EventsOut | None = None,
        action_link: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.book = book
        self.channels = list(channels)
        self.dashboard_link = dashboard_link
        self.policy = policy or RetryPolicy()
        self.window = window
        self.deliveries = DeliveryLog(store, clock, on_failed=on_failed)
        self.config = config or NotifierConfig()
        self.publish_digest = publish_digest or self._send_digest_inline
        self.dashboard_home = dashboard_home or (lambda: "")
        self.events_out = events_out
        """Every human event (and due reminder) to the owner's and the domain's webhooks."""
        self.action_link = action_link or (lambda message_id, action: "")
        """A reminder button as a signed link (message id, action) for one-way channels."""

    def handle(
        self, payload: dict[str, Any], *, events: Sequence[Event] | None = None
    ) -> Decision | str | None:
        """Bus handler for NOTIFY. Raises RetryLater or DeliveryFailed to be redelivered.

        ``events``: the message's latest RECENT_EVENTS events, when the caller read them
        already (the Gmail label step), so they are not read twice. A payload of kind
        ``reminder`` is a due reminder (reminding.py)."""
        if payload.get("kind") == "reminder":
            from .reminding import handle_reminder

            return handle_reminder(self, payload)
        message = self.store.get_message(str(payload.get("message_id", "")))
        if message is None:
            return None
        later, events = self._events_out(message, payload, events)
        try:
            decision = self._alert(message, payload, events)
        except RetryLater as exc:
            if later is None:
                raise
            raise RetryLater(min(exc.seconds, later.seconds), str(exc)) from exc
        if later is not None:
            raise later
        return decision

    def _events_out(
        self, message: Message, payload: dict[str, Any], events: Sequence[Event] | None
    ) -> tuple[RetryLater | None, Sequence[Event] | None]:
        """The event to the webhooks, whatever the alert settings: a webhook to try again later
        is returned (the alerts go first; permanent failures are problems already), with the
        events read for it (so the alert does not read them again)."""
        if self.events_out is None:
            return None, events
        endpoints = self.events_out.endpoints(message.owner)  # settings and policy, read once
        if not endpoints:
            return None, events
        if events is None:
            events = self.store.list_events(message.id, limit=RECENT_EVENTS)
        event = next((e for e in events if e.id == payload.get("event_id")), None)
        if event is None or not event.is_human:
            return None, events
        try:
            self.settle(event)  # a hit about to be relabelled a machine is never sent out
            self.events_out.send(event.id, event_body(message, event), message.owner, endpoints)
        except RetryLater as exc:
            return exc, events
        return None, events

    def _alert(
        self, message: Message, payload: dict[str, Any], events: Sequence[Event] | None
    ) -> Decision | None:
        settings = self.store.get_settings(message.owner)
        channels = self.allowed(settings, [c for c in self.channels if c.enabled(settings)])
        if not channels:  # before reading the events: a busy message has many
            return None
        if events is None:
            events = self.store.list_events(message.id, limit=RECENT_EVENTS)
        event = next((e for e in events if e.id == payload.get("event_id")), None)
        if event is None:
            log.info("notify: event %s not found (expired?)", payload.get("event_id"))
            return None
        if payload.get("relabelled") and not event.is_human:
            self.correct(message, event, settings, channels)
        self.settle(event)
        register_digest_user(self.store, settings.user)
        opens = [e for e in events if e.is_human and e.kind == "open"]
        now = self.clock.now()
        decision = decide(
            event, message, settings, opens, self.last_alert(message.id), now, self.window
        )
        if decision.action is Action.WAIT:
            assert decision.wait_until is not None
            raise RetryLater(max(0.05, (decision.wait_until - now).total_seconds()), "coalescing")
        if decision.action is Action.HOLD:
            assert decision.alert is not None
            self.hold(settings, decision.alert)
        elif decision.action is Action.SEND:
            assert decision.alert is not None
            self.send(decision.alert, settings, channels)
        return decision

    def settle(self, event: Event) -> None:
        """Raise RetryLater while a person's hit is younger than the settle window: the next
        seconds may show it to be a scanner's walk or burst (classify.reconcile), and the
        pipeline relabels it in the store before this alert is decided. A reply is never
        relabelled: it goes at once."""
        if not event.is_human or event.kind == "reply":
            return
        wait = (event.at + self.config.settle - self.clock.now()).total_seconds()
        if wait > 0:
            raise RetryLater(wait, "settling: waiting for what follows this hit")

    def correct(
        self, message: Message, event: Event, settings: Settings, channels: Sequence[Channel]
    ) -> None:
        """An alert already sent for ``event``, now relabelled a machine: edited in place where
        the channel allows (Slack's chat.update, Chat's messages.patch), once per channel; a
        quiet-hours alert waiting for the digest is dropped. It was never counted: the store
        moved the event out of every figure in the write that relabelled it."""
        self.store.delete_record(HELD, f"{settings.user}/{iso(event.at)}/{event.id}")
        kind = AlertKind.CLICKED if event.kind == "click" else AlertKind.OPENED
        view = AlertView.of(
            Alert(kind, message, event),
            dashboard_url=self.dashboard_link(message.id),
            timezone=settings.timezone,
        ).corrected(event)
        post = Post.of_alert(f"{event.id}-correction", view)
        for channel in channels:
            key = f"{event.id}/{channel.name}"
            sent = self.deliveries.sent(key)
            if not isinstance(channel, Correctable) or sent is None:
                continue
            if not self.store.add_record(DELIVERIES, f"{key}/corrected", {"at": iso(event.at)}):
                continue  # corrected before
            try:
                channel.correct(post, settings, sent)
            except DeliveryFailed as exc:
                if exc.permanent:
                    log.warning("could not correct %s on %s: %s", event.id, channel.name, exc)
                    continue
                self.store.delete_record(DELIVERIES, f"{key}/corrected")
                raise

    def allowed(self, settings: Settings, channels: list[Channel]) -> list[Channel]:
        """The channels the owner's domain policy allows; each one it stops is shown to the
        owner as a problem (their saved settings stay, in case the admins allow it again)."""
        policy = policy_for(self.store, settings.user)
        kept = []
        for channel in channels:
            family = channel_family(channel.name)
            if policy.allows_channel(family):
                kept.append(channel)
            else:
                problem = f"{channel.name}: alerts by {family} are off under your domain policy"
                self.book.record_problem(settings.user, problem, self.clock.now())
        return kept

    def send(self, alert: Alert, settings: Settings, channels: Sequence[Channel]) -> None:
        view = AlertView.of(
            alert, dashboard_url=self.dashboard_link(alert.message.id), timezone=settings.timezone
        )
        self.post(Post.of_alert(alert.key, view), settings, channels)
        if alert.event.kind == "open":
            self.mark_alerted(alert.message, alert.event)

    def post(self, post: Post, settings: Settings, channels: Sequence[Channel]) -> None:
        """Deliver on every channel; one channel's failure neither blocks nor repeats another."""
        pending: list[Exception] = []
        for channel in channels:
            try:
                deliver(
                    channel,
                    post,
                    settings,
                    deliveries=self.deliveries,
                    book=self.book,
                    policy=self.policy,
                )
            except (RetryLater, DeliveryFailed) as exc:
                pending.append(exc)
            except Exception as exc:  # an SDK surprise: retried by the bus like a 5xx
                log.exception("%s failed unexpectedly", channel.name)
                pending.append(exc)
        if pending:
            waits = [e.seconds for e in pending if isinstance(e, RetryLater)]
            if waits and len(waits) == len(pending):
                raise RetryLater(max(waits), "; ".join(map(str, pending)))
            raise next(e for e in pending if not isinstance(e, RetryLater))

    def last_alert(self, message_id: str) -> LastAlert | None:
        record = self.store.get_record(LAST_ALERT, message_id)
        if not record:
            return None
        return LastAlert(parse_time(record["sent_at"]), parse_time(record["covered_until"]))

    def mark_alerted(self, message: Message, event: Event) -> None:
        """Start a new coalescing window, unless a redelivery of an older alert got here."""
        last = self.last_alert(message.id)
        if last is None or event.at > last.covered_until:
            value = {"sent_at": iso(self.clock.now()), "covered_until": iso(event.at)}
            self.store.put_record(LAST_ALERT, message.id, value)

    def hold(self, settings: Settings, alert: Alert) -> None:
        """Keep a quiet-hours alert for the user's next digest (once per event)."""
        key = f"{settings.user}/{iso(alert.event.at)}/{alert.event.id}"
        self.store.add_record(
            HELD,
            key,
            {
                "message_id": alert.message.id,
                "event_id": alert.event.id,
                "headline": alert.headline,
                "at": iso(alert.event.at),
            },
        )
        if alert.event.kind == "open":
            self.mark_alerted(alert.message, alert.event)

    def handle_digest(self, payload: dict[str, Any]) -> None:
        """Bus handler for DIGEST: ``{}`` or ``{"date"}`` fans out, ``{"user", ...}`` sends one."""
        user = payload.get("user")
        if not user:
            day = payload.get("date") or self.clock.now().date().isoformat()
            for known, _ in self.store.list_records(DIGEST_USERS):
                self.publish_digest({"user": known, "key": f"digest-{day}"})
            return
        self.send_digest(
            str(user), key=str(payload.get("key") or f"digest-{iso(self.clock.now())}")
        )

    def unreachable(self, settings: Settings, enabled: Sequence[Channel]) -> str:
        """Why no channel can reach the user, in words they can act on."""
        if enabled:
            return "your domain's policy allows none of your alert channels"
        if settings.email_to and not any(c.name.startswith("email") for c in self.channels):
            return (
                f"email alerts to {settings.email_to} need a mail server: set"
                " MAILBEACON_SMTP_HOST (or MAILBEACON_GMAIL_CREDENTIALS) where Mailbeacon runs"
            )
        return (
            f"no alert channel set for {settings.user}: add one in the dashboard's Settings or"
            f" with `mailbeacon settings --user {settings.user} --email-to ...`"
        )

    def _send_digest_inline(self, payload: dict[str, Any]) -> None:
        self.send_digest(str(payload["user"]), key=str(payload["key"]))

    def send_digest(self, user: str, *, key: str) -> str:
        """Build and deliver one user's digest; returns what happened, for the CLI."""
        settings = self.store.get_settings(user)
        enabled = [c for c in self.channels if c.enabled(settings)]
        channels = self.allowed(settings, enabled)
        if not channels:
            return self.unreachable(settings, enabled)
        now = self.clock.now()
        last = self.store.get_record(DIGEST_SENT, user)
        since = parse_time(last["at"]) if last else now - timedelta(days=7)  # first digest
        digest = build_digest(
            self.store,
            user,
            now,
            since=since,
            unopened_days=self.config.digest_unopened_days,
            timezone=settings.timezone,
        )
        if digest.empty:
            return "nothing to report"
        post = digest_post(digest, f"{key}-{user}", self.dashboard_home())
        self.post(post, settings, channels)
        for held_key, _ in self.store.list_records(HELD, prefix=f"{user}/"):
            self.store.delete_record(HELD, held_key)
        self.store.put_record(DIGEST_SENT, user, {"at": iso(now)})
        return "sent"

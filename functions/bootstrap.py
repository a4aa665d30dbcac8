"""The composition root: the one place that chooses adapters and puts Mailbeacon together.

Every entry point (the CLI, `mailbeacon serve`, each Cloud Function) reads its configuration
with ``functions.config.load_config`` and hands it here; tests build an ``AppConfig`` from
objects. Nothing else names a concrete store, bus, channel, verifier or installer. Parts only
some requests need (the add-on endpoint, the Chat verifier, the Slack installer) are built on
first use, so a pixel's cold start pays only for the pixel.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mailbeacon.bus import DIGEST, TOPICS, Bus, Handler, Worker
from mailbeacon.clock import Clock, SystemClock
from mailbeacon.errors import InvalidInput
from mailbeacon.health import Health
from mailbeacon.hits import NetworkTagger
from mailbeacon.pipeline import Classifier
from mailbeacon.policy import PolicyBook
from mailbeacon.push import EndpointRules
from mailbeacon.records import Namespace, Records
from mailbeacon.sentwatch import Mailbox
from mailbeacon.settings import AlertRules, SettingsBook
from mailbeacon.store import Store
from mailbeacon.threads import ReplyBook
from mailbeacon.tokens import Keyring, TokenSigner, load_keyring
from mailbeacon.urls import Urls
from notifier.handler import Notifier

from .config import AppConfig
from .consumers import Consumers
from .jobs import Background, FallbackSweep, ReminderScan, RetentionSweep, WatchRenewal
from .tracking_root import IP_KEY_PURPOSE, catalog_tagger, hit_bus, pubsub_bus, store_for

if TYPE_CHECKING:
    from addon.endpoint import AddonEndpoint
    from mailbeacon.google.identity import ChatVerifier, GoogleTokenVerifier
    from mailbeacon.heartbeat import Heartbeat
    from mailbeacon.session_cookie import CookieJar
    from notifier.channels.browser import VapidSource
    from notifier.slack_install import SlackInstaller

    from .dashboard.live import LiveHub
    from .edge.ports import Tracking

log = logging.getLogger(__name__)


def _classify(hit: Any, context: Any) -> Any:
    """The classifier, imported on first use: the pixel's cold start never needs it."""
    from mailbeacon.classify import classify

    return classify(hit, context)


@dataclass
class App:
    """One running Mailbeacon: every part a use case, route or consumer needs, built once."""

    config: AppConfig
    store: Store
    bus: Bus
    worker: Worker | None
    """Who runs the handlers in this process: the outbox worker locally, the pull
    worker for `serve` on Pub/Sub (cluster mode), None on Cloud Functions (Pub/Sub pushes each
    message into an entry point, which calls ``handlers``)."""
    keyring: Keyring
    signer: TokenSigner
    urls: Urls
    clock: Clock
    classifier: Classifier
    tagger: NetworkTagger
    alert_rules: AlertRules
    settings: SettingsBook
    """The one writer of users' settings, with the configured rules (every edge uses it)."""
    notifier: Notifier
    health: Health
    vapid: VapidSource
    """Web Push's VAPID keys, loaded (or made, locally) on first use."""
    push_rules: EndpointRules
    """Where browsers' push subscriptions may point (the known push services)."""
    records: Records
    policies: PolicyBook
    """Domain policies for the pipeline, cached briefly (one read per domain a minute)."""
    consumers: Consumers
    handlers: dict[str, Handler] = field(default_factory=dict)
    background: list[Background] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @cached_property
    def tracking(self) -> Tracking:
        """What the pixel and click routes use, on either edge (serve's loop, or Flask)."""
        from .edge.ports import Tracking

        return Tracking(
            signer=self.signer,
            ip_key=self.ip_key,
            trust_proxy=self.config.core.trust_proxy,
            tagger=self.tagger,
            clock=self.clock,
            bus=hit_bus(self.config.core, self.bus, lambda: self.records),
            health=self.health,
        )

    @property
    def replies(self) -> ReplyBook:
        """Records the thread messages of tracked emails (the Gmail watch and the add-on):
        the consumers' book, which build() always sets."""
        assert self.consumers.replies is not None
        return self.consumers.replies

    @cached_property
    def ip_key(self) -> bytes:
        return self.keyring.derive(IP_KEY_PURPOSE)

    @cached_property
    def cookies(self) -> CookieJar:
        """The ``__session`` jar Slack's install keeps its state in (the dashboard's gate
        derives the same key)."""
        from mailbeacon.session_cookie import KEY_PURPOSE, CookieJar

        return CookieJar(self.keyring.derive(KEY_PURPOSE))

    @cached_property
    def live(self) -> LiveHub:
        """Wakes this process's open live pages (Server-Sent Events) when an event is stored."""
        from .dashboard.live import LiveHub

        hub = LiveHub()
        self.consumers.wake_live_pages = hub.changed  # events this process stores wake it
        return hub

    @property
    def streams_live(self) -> bool:
        """Whether this process runs the worker, so it can stream events as they are stored;
        Cloud Functions cannot hold a stream open and their pages poll instead."""
        return self.worker is not None and self.config.core.worker

    @property
    def mailbox(self) -> Mailbox | None:
        """Gmail as each user (domain-wide delegation), when the sent-mail watch is set up."""
        return self.consumers.mailbox()

    @cached_property
    def gmail_push_verifier(self) -> GoogleTokenVerifier:
        """Verifies Pub/Sub's pushes of Gmail notifications and Cloud Scheduler's daily renewal
        call (OIDC tokens of the deployment's service account, for those two URLs only)."""
        from mailbeacon.google.identity import GoogleTokenVerifier

        base = self.urls.service("gmail")
        return GoogleTokenVerifier(
            audiences=(f"{base}/gmail/push", f"{base}/gmail/renew"),
            emails=self.config.sentwatch.push_service_accounts,
            certs_url=self.config.notifier.google_certs_url,
        )

    @cached_property
    def addon(self) -> AddonEndpoint:
        """The add-on's endpoint (it keeps Google's certificates cached)."""
        from addon.endpoint import AddonEndpoint

        addon_base = self.urls.service("addon")  # the add-on function's base, not the pixel's
        return AddonEndpoint(self, replace(self.config.addon, base_url=addon_base))

    @cached_property
    def chat_verifier(self) -> ChatVerifier:
        """Verifies the Chat app's requests (it keeps Google's certificates cached)."""
        from mailbeacon.google.identity import ChatVerifier

        notifier = self.config.notifier
        return ChatVerifier(
            endpoint_audiences=notifier.chat_audience or (f"{self.urls.service('chat')}/chat",),
            project_numbers=notifier.chat_project_numbers,
            # A Chat app built as an add-on is signed by the project's add-on service agent.
            emails=tuple(
                dict.fromkeys((*notifier.chat_issuer_emails, *notifier.addon_service_accounts))
            ),
            google_certs_url=notifier.google_certs_url,
            chat_certs_url=notifier.chat_certs_url,
        )

    @cached_property
    def slack_installer(self) -> SlackInstaller:
        from notifier.slack_install import SlackInstaller

        slack_base = self.urls.service("slack")  # the redirect URI is the Slack function's
        return SlackInstaller(self.store, self.clock, self.config.notifier, slack_base)

    def start(self) -> None:
        """Run the worker and the background threads (the local server does; functions don't)."""
        if self.worker is not None and self.config.core.worker:
            self.worker.start()
        elif self.worker is not None:  # edge only: another process drains the outbox
            log.warning("MAILBEACON_WORKER=off: hits are recorded but not processed here")
        for part in self.background:
            part.start()

    def prepare(self) -> None:
        """What must exist before the edge publishes: cluster mode's Pub/Sub topics and
        subscriptions (the server calls it before its first answer; the worker process's
        ``start`` does too). Raises BusUnavailable when Pub/Sub refuses."""
        from mailbeacon.bus.pubsub_pull import PubsubPullWorker

        if isinstance(self.worker, PubsubPullWorker):
            self.worker.ensure(TOPICS)

    def close(self) -> None:
        if "live" in self.__dict__:
            self.live.close()  # open streams end now, not at their deadline
        for part in reversed(self.background):
            part.stop()
        if self.worker is not None:
            self.worker.stop()
        for close in reversed(self.closers):
            close()


def _bus(config: AppConfig, db: Any) -> tuple[Bus, Worker | None]:
    core = config.core
    if core.bus == "local":
        from mailbeacon.bus.local import LocalBus
        from mailbeacon.store.sqlite import Database

        if db is None:
            db = Database(
                core.data_dir / "mailbeacon.db",
                busy_timeout_ms=core.sqlite_busy_ms,
                sync=core.sqlite_sync,
            )
        # The notifier gives an alert up at the horizon, telling its owner; the bus sets a
        # message aside one backoff later, so that last try is always the notifier's.
        horizon = core.retry_horizon + core.retry_cap
        bus = LocalBus(
            db,
            lane=core.spool_lane,
            horizon=horizon,
            base=core.retry_base,
            cap=core.retry_cap,
        )
        return bus, bus
    if core.bus == "pubsub":
        pubsub = pubsub_bus(core)
        if not core.pull_subscriptions:  # Cloud Functions: Pub/Sub pushes to the entry points
            return pubsub, None
        from mailbeacon.bus.pubsub_pull import PubsubPullWorker

        puller = PubsubPullWorker(
            core.gcp_project,
            topic_prefix=core.topic_prefix,
            emulator_host=core.pubsub_emulator_host,
            concurrency=core.pull_concurrency,
        )
        return pubsub, puller  # publishing stays on the REST call: the pixel's fastest path
    raise ValueError(f"unknown bus {core.bus!r}")


def vapid_subject(config: AppConfig) -> str:
    """The VAPID contact: configured, else the public https URL (RFC 8292 section 2.1)."""
    public = config.core.public_url or ""
    if config.notifier.vapid_subject:
        return config.notifier.vapid_subject
    return public if public.startswith("https://") else "mailto:mailbeacon@localhost"


def _vapid(config: AppConfig) -> VapidSource:
    """The secret in the cloud; a key made once in the data dir on the embedded store."""
    from notifier.channels.browser import VapidSource

    local = config.core.data_dir if config.core.store == "sqlite" else None
    return VapidSource(config.notifier.vapid_private_key, local)


def build_notifier(
    store: Store,
    bus: Bus,
    clock: Clock,
    urls: Urls,
    config: AppConfig,
    book: SettingsBook,
    vapid: VapidSource | None = None,
    push_rules: EndpointRules | None = None,
    on_failed: Callable[[str, str], None] | None = None,
) -> Notifier:
    """The notifier with every channel; channel SDKs load on first send."""
    from notifier.channels.browser import BrowserPushChannel
    from notifier.channels.chat_app import ChatAppChannel
    from notifier.channels.chat_webhook import ChatWebhookChannel
    from notifier.channels.email import email_channel
    from notifier.channels.slack_app import SlackAppChannel
    from notifier.channels.slack_webhook import SlackWebhookChannel
    from notifier.channels.webhook import WebhookSender
    from notifier.delivery import Channel, DeliveryLog
    from notifier.events_out import EventsOut
    from notifier.retry import RetryPolicy

    settings = config.notifier
    policy = RetryPolicy(
        retries=settings.inline_retries,
        max_inline_wait=settings.max_inline_wait,
        base=min(0.5, config.core.retry_base),
        horizon=config.core.retry_horizon,
    )
    channels: list[Channel] = [
        SlackWebhookChannel(policy, settings.timeout_seconds, book.rules),
        SlackAppChannel(store, settings, policy),
        ChatWebhookChannel(settings.timeout_seconds, book.rules),
        ChatAppChannel(store, settings, clock),
        BrowserPushChannel(
            store,
            vapid or _vapid(config),
            vapid_subject(config),
            clock,
            push_rules or EndpointRules(allow_loopback=config.core.insecure_dev_auth),
            timeout=settings.timeout_seconds,
        ),
    ]
    email = email_channel(settings, clock)
    if email is not None:
        channels.append(email)
    return Notifier(
        store,
        clock,
        channels,
        book=book,
        dashboard_link=lambda message_id: urls.dashboard(message_id, now=clock.now()),
        policy=policy,
        window=settings.coalesce_window,
        config=settings,
        publish_digest=lambda payload: bus.publish(DIGEST, payload),
        dashboard_home=lambda: f"{urls.service('dashboard')}/dashboard/messages",
        on_failed=on_failed,
        events_out=EventsOut(
            store,
            book,
            DeliveryLog(store, clock),
            WebhookSender(book.rules.allow_hosts),
            clock,
        ),
        action_link=lambda message_id, action: urls.reminder_action(
            message_id, action, now=clock.now()
        ),
    )


def _shared_keyring(records: Records) -> Keyring:
    """Without MAILBEACON_SECRET on Firestore: a key made once in the store itself, because
    every process of a cluster (and the CLI) must sign alike; with a key per data dir, each
    server answered the others' tokens with 404. The first process to start makes it; the
    others read it. (On the embedded store the key is made once in the data dir.)"""
    key = "current"
    stored = records.get_record(Namespace.SIGNING_KEYS, key)
    if stored is None:  # insert-if-absent: two processes starting at once agree on one key
        made = {"keyring": f"1:{secrets.token_hex(32)}"}
        records.add_record(Namespace.SIGNING_KEYS, key, made)
        stored = records.get_record(Namespace.SIGNING_KEYS, key)
    if not stored or not isinstance(stored.get("keyring"), str):
        raise InvalidInput("the signing key kept in Firestore is unreadable: set MAILBEACON_SECRET")
    return Keyring.parse(stored["keyring"])


def bootstrap(
    config: AppConfig,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    bus: Bus | None = None,
    worker: Worker | None = None,
) -> App:
    """Build the App for ``config``; tests may pass their own clock, store, bus or worker."""
    core = config.core
    clock = clock or SystemClock()
    from mailbeacon.google.identity import certificate_deadline  # (no SDK: a small module)

    certificate_deadline(core.cert_timeout)
    # A malformed secret is refused before anything is created (the data dir included).
    local = core.secret or core.store != "firestore"
    keyring = load_keyring(core.data_dir, core.secret) if local else None
    db = None
    if store is None:
        store, db = store_for(core, clock)
    if keyring is None:
        keyring = _shared_keyring(store)
    signer = TokenSigner(keyring)
    if bus is None:
        bus, found = _bus(config, db)
        worker = worker or found
    urls = Urls(core.resolved_public_url(), signer, core.click_url, dict(core.service_urls))
    records = store.records
    book = SettingsBook(store, records, alert_rules(config))
    vapid = _vapid(config)
    push_rules = EndpointRules(allow_loopback=core.insecure_dev_auth)
    heartbeat = _heartbeat(config, bus, clock) if worker is not None else None
    notifier = build_notifier(
        store,
        bus,
        clock,
        urls,
        config,
        book,
        vapid,
        push_rules,
        on_failed=heartbeat.alert_failed if heartbeat else None,
    )
    policies = PolicyBook(records, clock)
    consumers = Consumers(
        store=store,
        records=records,
        bus=bus,
        classifier=_classify,
        clock=clock,
        notifier=notifier,
        policies=policies,
        signer=signer,
        retention=core.retention,
        mailbox=_mailbox_factory(config),
        gmail_labels=config.sentwatch.labels,
        gmail_topic=config.sentwatch.topic,
        slack_interaction=_slack_interaction(config, store, book, clock),
    )
    consumers.replies = ReplyBook(
        store, records, bus, clock, consumers.retention_for, stored=consumers.wake
    )
    app = App(
        config=config,
        store=store,
        records=records,
        bus=bus,
        worker=worker,
        keyring=keyring,
        signer=signer,
        urls=urls,
        clock=clock,
        classifier=_classify,
        tagger=catalog_tagger(core),
        alert_rules=book.rules,
        settings=book,
        notifier=notifier,
        health=Health(clock),
        vapid=vapid,
        push_rules=push_rules,
        policies=policies,
        consumers=consumers,
        handlers=consumers.table(),
    )
    if worker is not None:
        batches = consumers.batches()
        for topic, handler in app.handlers.items():
            worker.subscribe(topic, handler, batch=batches.get(topic))
        # started by `serve` only, never by a one-shot command
        app.background.extend(_background(config, store, records, bus, clock, consumers))
        if heartbeat is not None:
            app.background.append(heartbeat)
    app.closers.append(store.close)
    return app


def alert_rules(config: AppConfig) -> AlertRules:
    """Where alerts may go, from the configuration: one place, for every settings writer."""
    core = config.core
    return AlertRules(core.webhook_allow_hosts, core.alert_email_domains)


def _background(
    config: AppConfig,
    store: Store,
    records: Records,
    bus: Bus,
    clock: Clock,
    consumers: Consumers,
) -> list[Background]:
    from notifier.digest import DigestScheduler

    jobs: list[Background] = [
        DigestScheduler(store, bus, clock, config.notifier.digest_hour),
        RetentionSweep(store, records, clock),
        ReminderScan(consumers.publish_due_reminders, config.core.reminder_scan_seconds),
    ]
    if config.core.bus == "pubsub":  # cluster mode: republish the hits kept meanwhile
        jobs.append(FallbackSweep(records, bus, every=config.core.fallback_sweep_seconds))
    if config.sentwatch.topic:
        jobs.append(WatchRenewal(consumers.renew_gmail_watches))
    return jobs


def _heartbeat(config: AppConfig, bus: Bus, clock: Clock) -> Heartbeat:
    """The worker's heartbeat for the edge's /healthz: the local bus reports its spool cursor
    and dead letters; Pub/Sub's pull worker only that it is alive."""
    from mailbeacon.bus.local import LocalBus
    from mailbeacon.heartbeat import Heartbeat

    progress = bus.progress if isinstance(bus, LocalBus) else dict
    core = config.core
    return Heartbeat(core.heartbeat_file, progress, core.heartbeat_seconds, clock)


def _slack_interaction(
    config: AppConfig, store: Store, book: SettingsBook, clock: Clock
) -> Callable[[dict[str, Any]], Any]:
    """The work of an acknowledged Slack interaction: a mute or a reminder's button, its
    confirmation posted to the payload's response_url (slack_sdk loads on the first one)."""

    def apply(payload: dict[str, Any]) -> Any:
        from notifier.slack_actions import apply_interaction, response_url_poster

        notifier = config.notifier
        respond = response_url_poster(notifier.slack_api_url, notifier.timeout_seconds)
        return apply_interaction(store, book, respond, payload, clock)

    return apply


def _mailbox_factory(config: AppConfig) -> Callable[[], Mailbox | None]:
    """Gmail as each user (domain-wide delegation) when the sent-mail watch or labels are set
    up, built on first use (the pixel never needs it)."""
    notifier, watch = config.notifier, config.sentwatch

    @functools.cache
    def mailbox() -> Mailbox | None:
        if not notifier.gmail_credentials or not (watch.topic or watch.labels):
            return None
        from mailbeacon.google.gmail import GmailMailbox

        return GmailMailbox(
            notifier.gmail_credentials,
            notifier.gmail_api_url,
            labels=watch.labels,
            timeout=notifier.timeout_seconds,
        )

    return mailbox

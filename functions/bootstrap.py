"""The composition root: the one place that chooses adapters and puts Mailbeacon together.

Every entry point (the CLI, `mailbeacon serve`, each Cloud Function) reads its configuration
with ``functions.config.load_config`` and hands it here; tests build an ``AppConfig`` from
objects. Nothing else names a concrete store, bus, channel, verifier or installer. Parts only
some requests need (the add-on endpoint, the Chat verifier, the Slack installer) are built on
first use, so a pixel's cold start pays only for the pixel.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from mailbeacon.bus import DIGEST, HITS, NOTIFY, TOPICS, Bus, Handler, Worker
from mailbeacon.clock import Clock, SystemClock
from mailbeacon.errors import InvalidInput, MailbeaconError
from mailbeacon.health import Health
from mailbeacon.hits import NetworkTagger
from mailbeacon.model import Event, Message
from mailbeacon.policy import PolicyBook, list_policies
from mailbeacon.push import EndpointRules
from mailbeacon.records import Namespace, Records
from mailbeacon.sentwatch import (
    Mailbox,
    handle_push,
    label_first_human,
    labels_wanted,
    mark_unsent,
    renew_watches,
    watched_users,
)
from mailbeacon.services import Classifier, Urls, process_hit, process_hits
from mailbeacon.settings import WebhookRules
from mailbeacon.store import Storage
from mailbeacon.tokens import Keyring, TokenSigner, load_keyring
from notifier.handler import Notifier

from .config import AppConfig

if TYPE_CHECKING:
    from addon.endpoint import AddonEndpoint
    from mailbeacon.google.identity import ChatVerifier, GoogleTokenVerifier
    from notifier.channels.browser import VapidSource
    from notifier.slack_install import SlackInstaller

    from .dashboard.live import LiveHub

log = logging.getLogger(__name__)

RETENTION_SWEEP_SECONDS = 3600.0
WATCH_RENEWAL_SECONDS = 86400.0


class Background(Protocol):
    """A thread the local server runs beside the web server."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...


def _classify(hit: Any, context: Any) -> Any:
    """The classifier, imported on first use: the pixel's cold start never needs it."""
    from mailbeacon.classify import classify

    return classify(hit, context)


@dataclass
class App:
    """One running Mailbeacon: every part a use case, route or consumer needs, built once."""

    config: AppConfig
    store: Storage
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
    webhook_rules: WebhookRules
    notifier: Notifier
    health: Health
    vapid: VapidSource
    """Web Push's VAPID keys, loaded (or made, locally) on first use."""
    push_rules: EndpointRules
    """Where browsers' push subscriptions may point (the known push services)."""
    handlers: dict[str, Handler] = field(default_factory=dict)
    background: list[Background] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def records(self) -> Storage:
        """The Records port: kept by the same backend as everything else."""
        return self.store

    @cached_property
    def ip_key(self) -> bytes:
        return self.keyring.derive("ip-address-hash")

    @cached_property
    def live(self) -> LiveHub:
        """Wakes this process's open live pages (Server-Sent Events) when an event is stored."""
        from .dashboard.live import LiveHub

        return LiveHub()

    @property
    def streams_live(self) -> bool:
        """Whether this process runs the worker, so it can stream events as they are stored;
        Cloud Functions cannot hold a stream open and their pages poll instead."""
        return self.worker is not None and self.config.core.worker

    @cached_property
    def mailbox(self) -> Mailbox | None:
        """Gmail as each user (domain-wide delegation), when the sent-mail watch is set up."""
        notifier, watch = self.config.notifier, self.config.sentwatch
        if not notifier.gmail_credentials or not (watch.topic or watch.labels):
            return None
        from mailbeacon.google.gmail import GmailMailbox

        return GmailMailbox(
            notifier.gmail_credentials,
            notifier.gmail_api_url,
            labels=watch.labels,
            timeout=notifier.timeout_seconds,
        )

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

    def handle_gmail_push(self, data: dict[str, Any]) -> list[str]:
        """One Gmail notification ``{"emailAddress", "historyId"}`` (the /gmail/push route, or
        a Pub/Sub-triggered function): record the tracked mail sent since the last one."""
        if self.mailbox is None:
            return []
        return handle_push(self.mailbox, self.store, self.records, self.signer, data)

    def handle_notify(self, payload: dict[str, Any]) -> Any:
        """NOTIFY: label the sent message in Gmail (if asked for), then alert the owner."""
        if self.config.sentwatch.labels and self.mailbox is not None:
            message_id = str(payload.get("message_id", ""))
            if labels_wanted(self.records, message_id):
                events = self.store.list_events(message_id, limit=500)
                event = next((e for e in events if e.id == payload.get("event_id")), None)
                if event is not None:
                    try:
                        label_first_human(
                            self.mailbox, self.store, self.records, event, self.clock.now()
                        )
                    except MailbeaconError as exc:
                        log.warning("gmail label not set: %s", exc)
        return self.notifier.handle(payload)

    @cached_property
    def policies(self) -> PolicyBook:
        """Domain policies for the pipeline, cached briefly (one read per domain a minute)."""
        return PolicyBook(self.store, self.clock)

    def retention_for(self, owner: str) -> timedelta:
        """How long an event of ``owner``'s is kept: the server's retention or their policy's."""
        return self.policies.of(owner).retention(self.config.core.retention)

    def handle_hit(self, payload: dict[str, Any]) -> None:
        process_hit(
            self.store,
            self.bus,
            self.classifier,
            payload,
            retention=self.config.core.retention,
            stored=self.event_stored,
            retention_for=self.retention_for,
        )

    def handle_hits(self, payloads: list[dict[str, Any]]) -> None:
        """A batch of hits: one context read per message, one transaction locally."""
        process_hits(
            self.store,
            self.bus,
            self.classifier,
            payloads,
            retention=self.config.core.retention,
            retention_for=self.retention_for,
            stored=self.event_stored,
        )

    def event_stored(self, message: Message, event: Event) -> None:
        """Put the event in its owner's live feed; a failure here never fails the hit."""
        from mailbeacon import live

        try:
            live.append(self.records, message, event, self.clock.now())
        except Exception:
            log.exception("live feed: could not add event %s", event.id)
            return
        if "live" in self.__dict__:  # only when this process serves pages
            self.live.changed()

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


class RetentionSweep:
    """Enforce retention on the embedded store hourly (Firestore does it with a TTL policy)."""

    def __init__(self, store: Storage, clock: Clock, every: float = RETENTION_SWEEP_SECONDS):
        self.store, self.clock, self.every = store, clock, every
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sweep()
            except Exception:
                log.exception("retention sweep failed")

    def sweep(self) -> int:
        """Delete expired events, and events older than each domain policy's retention."""
        now = self.clock.now()
        removed = self.store.purge_expired(now)
        for policy in list_policies(self.store):
            if policy.retention_days is not None:
                cutoff = now - timedelta(days=policy.retention_days)
                removed += self.store.purge_domain(policy.domain, cutoff)
        if removed:
            log.info("retention: removed %s expired events", removed)
        return removed

    def start(self) -> RetentionSweep:
        threading.Thread(target=self.run, daemon=True, name="retention").start()
        return self

    def stop(self) -> None:
        self._stop.set()


class WatchRenewal:
    """Renew the Gmail sent-mail watches daily and mark drafts never sent (Gmail stops a
    watch after 7 days); in the cloud a Cloud Scheduler job runs `gmail-watch renew`."""

    def __init__(self, app: App, every: float = WATCH_RENEWAL_SECONDS) -> None:
        self.app, self.every = app, every
        self._stop = threading.Event()

    def run_once(self) -> int:
        app, topic = self.app, self.app.config.sentwatch.topic
        if app.mailbox is None or not topic:
            return 0
        users = watched_users(app.records)
        now = app.clock.now()
        renewed = renew_watches(app.mailbox, app.records, users, topic, now)
        mark_unsent(app.store, app.records, users, now)
        return renewed

    def run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("gmail watch renewal failed")
            if self._stop.wait(self.every):
                return

    def start(self) -> WatchRenewal:
        threading.Thread(target=self.run, daemon=True, name="gmail-watch").start()
        return self

    def stop(self) -> None:
        self._stop.set()


def _store(config: AppConfig, clock: Clock) -> tuple[Storage, Any]:
    core = config.core
    if core.store == "sqlite":
        from mailbeacon.store.sqlite import Database, SqliteStore

        db = Database(
            core.data_dir / "mailbeacon.db",
            busy_timeout_ms=core.sqlite_busy_ms,
            sync=core.sqlite_sync,
        )
        return SqliteStore(db, clock), db
    if core.store == "firestore":
        from mailbeacon.store.firestore import FirestoreStore  # the client is made on first use

        store = FirestoreStore(
            project=core.gcp_project,
            database=core.firestore_database,
            timeout=core.firestore_timeout,
            clock=clock,
        )
        return store, None
    raise ValueError(f"unknown store {core.store!r}")


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
        bus = LocalBus(db)
        return bus, bus
    if core.bus == "pubsub":
        from mailbeacon.bus.pubsub import PubsubBus

        pubsub = PubsubBus(
            core.gcp_project,
            topic_prefix=core.topic_prefix,
            emulator_host=core.pubsub_emulator_host,
        )
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


def _tagger(config: AppConfig) -> NetworkTagger:
    """Catalogue tags at the edge; the catalogues load on the first hit, not at start."""
    from mailbeacon.catalogs.loader import CatalogTagger

    return CatalogTagger(config.core.data_dir / "catalogs")


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
    store: Storage,
    bus: Bus,
    clock: Clock,
    urls: Urls,
    config: AppConfig,
    rules: WebhookRules,
    vapid: VapidSource | None = None,
    push_rules: EndpointRules | None = None,
) -> Notifier:
    """The notifier with every channel; channel SDKs load on first send."""
    from notifier.channels.browser import BrowserPushChannel
    from notifier.channels.chat_app import ChatAppChannel
    from notifier.channels.chat_webhook import ChatWebhookChannel
    from notifier.channels.email import email_channel
    from notifier.channels.slack_app import SlackAppChannel
    from notifier.channels.slack_webhook import SlackWebhookChannel
    from notifier.delivery import Channel
    from notifier.retry import RetryPolicy

    settings = config.notifier
    policy = RetryPolicy(retries=settings.inline_retries, max_inline_wait=settings.max_inline_wait)
    channels: list[Channel] = [
        SlackWebhookChannel(policy, settings.timeout_seconds, rules),
        SlackAppChannel(store, settings, policy),
        ChatWebhookChannel(settings.timeout_seconds, rules),
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
        dashboard_link=lambda message_id: urls.dashboard(message_id, now=clock.now()),
        policy=policy,
        window=settings.coalesce_window,
        config=settings,
        publish_digest=lambda payload: bus.publish(DIGEST, payload),
        dashboard_home=lambda: f"{urls.service('dashboard')}/dashboard/messages",
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
    store: Storage | None = None,
    bus: Bus | None = None,
    worker: Worker | None = None,
) -> App:
    """Build the App for ``config``; tests may pass their own clock, store, bus or worker."""
    core = config.core
    clock = clock or SystemClock()
    # A malformed secret is refused before anything is created (the data dir included).
    local = core.secret or core.store != "firestore"
    keyring = load_keyring(core.data_dir, core.secret) if local else None
    db = None
    if store is None:
        store, db = _store(config, clock)
    if keyring is None:
        keyring = _shared_keyring(store)
    signer = TokenSigner(keyring)
    if bus is None:
        bus, found = _bus(config, db)
        worker = worker or found
    urls = Urls(core.resolved_public_url(), signer, core.click_url, dict(core.service_urls))
    rules = WebhookRules(core.webhook_allow_hosts)
    vapid = _vapid(config)
    push_rules = EndpointRules(allow_loopback=core.insecure_dev_auth)
    notifier = build_notifier(store, bus, clock, urls, config, rules, vapid, push_rules)
    app = App(
        config=config,
        store=store,
        bus=bus,
        worker=worker,
        keyring=keyring,
        signer=signer,
        urls=urls,
        clock=clock,
        classifier=_classify,
        tagger=_tagger(config),
        webhook_rules=rules,
        notifier=notifier,
        health=Health(clock),
        vapid=vapid,
        push_rules=push_rules,
    )
    app.handlers.update(
        {HITS: app.handle_hit, NOTIFY: app.handle_notify, DIGEST: notifier.handle_digest}
    )
    if worker is not None:
        for topic, handler in app.handlers.items():
            worker.subscribe(topic, handler, batch=app.handle_hits if topic == HITS else None)
    if worker is not None:  # started by `serve` only, never by a one-shot command
        from notifier.digest import DigestScheduler

        app.background.append(DigestScheduler(store, bus, clock, config.notifier.digest_hour))
        app.background.append(RetentionSweep(store, clock))
        if config.sentwatch.topic:
            app.background.append(WatchRenewal(app))
    app.closers.append(store.close)
    return app

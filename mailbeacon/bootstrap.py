"""The one wiring point: the only place that names concrete adapters.

Entry points ask for an App on first use (never at import), so a pixel cold start pays only for
what the pixel needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .bus import DIGEST, HITS, NOTIFY, Bus
from .clock import Clock, SystemClock
from .config import Config
from .health import Health
from .hits import NetworkTagger
from .services import Classifier, Urls, process_hit
from .store import Store
from .tokens import Keyring, TokenSigner, load_keyring

log = logging.getLogger(__name__)


def _classify(hit: Any, context: Any) -> Any:
    """The classifier, imported on first use: the pixel's cold start never needs it."""
    from .classify import classify

    return classify(hit, context)


@dataclass
class App:
    """Everything a use case may need, built once per process."""

    config: Config
    store: Store
    bus: Bus
    keyring: Keyring
    signer: TokenSigner
    urls: Urls
    clock: Clock
    classifier: Classifier
    tagger: NetworkTagger
    health: Health = field(default_factory=Health)
    notifier: Any = None  # notifier.handler.Notifier, built by bootstrap
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def ip_key(self) -> bytes:
        return self.keyring.derive("ip-address-hash")

    def handle_hit(self, payload: dict[str, Any]) -> None:
        process_hit(self.store, self.bus, self.classifier, payload, retention=self.config.retention)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def _sqlite(config: Config) -> tuple[Store, Any]:
    from .store.sqlite import Database, SqliteStore

    db = Database(config.data_dir / "mailbeacon.db")
    return SqliteStore(db), db


def _tagger(config: Config) -> NetworkTagger:
    """Catalogue tags at the edge; the catalogues load on the first hit, not at start."""
    from .catalogs.loader import CatalogTagger

    return CatalogTagger(config.data_dir / "catalogs")


def bootstrap(
    config: Config,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    bus: Bus | None = None,
) -> App:
    """Build an App for ``config``; tests may pass their own store, bus or clock."""
    keyring = load_keyring(config.data_dir)
    signer = TokenSigner(keyring)
    db = None
    if store is None:
        if config.store == "sqlite":
            store, db = _sqlite(config)
        elif config.store == "firestore":
            from .store.firestore import FirestoreStore  # the client is made on first use

            store = FirestoreStore(
                project=config.gcp_project,
                database=config.firestore_database,
                timeout=config.firestore_timeout,
            )
        else:
            raise ValueError(f"unknown store {config.store!r}")
    if bus is None:
        if config.bus == "local":
            from .bus.local import LocalBus
            from .store.sqlite import Database

            bus = LocalBus(db if db is not None else Database(config.data_dir / "mailbeacon.db"))
        elif config.bus == "pubsub":
            from .bus.pubsub import PubsubBus

            bus = PubsubBus(config.gcp_project, topic_prefix=config.topic_prefix)
        else:
            raise ValueError(f"unknown bus {config.bus!r}")
    app = App(
        config=config,
        store=store,
        bus=bus,
        keyring=keyring,
        signer=signer,
        urls=Urls(
            config.resolved_public_url(), signer, config.click_url, dict(config.service_urls)
        ),
        clock=clock or SystemClock(),
        classifier=_classify,
        tagger=_tagger(config),
    )
    from notifier.wiring import build_notifier  # channel SDKs load lazily, on first send

    app.notifier = build_notifier(app)
    subscribe = getattr(bus, "subscribe", None)
    if subscribe is not None:
        subscribe(HITS, app.handle_hit)
        subscribe(NOTIFY, app.notifier.handle)
        subscribe(DIGEST, app.notifier.handle_digest)
    app.closers.append(store.close)
    return app

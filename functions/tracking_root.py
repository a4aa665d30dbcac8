"""The pixel's and the click's own composition: the parts they use and nothing else (and the
choice of store, which the main composition root shares).

A Cloud Function serving ``/p/...`` or ``/c/...`` never needs the store, the notifier or the
web app, and pays every import at cold start (bench/coldstart.py), so it is wired here rather
than through ``functions.bootstrap.bootstrap``: the keyring, the signer, the catalogue tagger
and the bus to Pub/Sub. The store's records, where a hit is kept when Pub/Sub refuses it, are
built on the first such hit only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailbeacon.bus import Bus
from mailbeacon.clock import Clock, SystemClock
from mailbeacon.config import Config
from mailbeacon.health import Health
from mailbeacon.records import Records
from mailbeacon.tokens import TokenSigner, load_keyring

from .edge.ports import Tracking

if TYPE_CHECKING:
    from mailbeacon.bus.pubsub import PubsubBus
    from mailbeacon.hits import NetworkTagger
    from mailbeacon.store import Store

IP_KEY_PURPOSE = "ip-address-hash"
"""The keyring purpose of the key client addresses are hashed with."""


def hit_bus(core: Config, bus: Bus, records: Callable[[], Records]) -> Bus:
    """The bus the edge records hits on: on Pub/Sub, bounded retries and then the hit kept in
    the store (mailbeacon.bus.fallback), so no answered hit is lost; the local outbox is
    already the store's own table."""
    if core.bus != "pubsub":
        return bus
    from mailbeacon.bus.fallback import DurableHits

    return DurableHits(bus, records, attempts=core.publish_attempts)


def store_for(core: Config, clock: Clock) -> tuple[Store, Any]:
    """The configured store (and the SQLite database the local bus shares), its client made
    on first use."""
    if core.store == "sqlite":
        from mailbeacon.store.sqlite import Database, SqliteStore

        db = Database(
            core.data_dir / "mailbeacon.db",
            busy_timeout_ms=core.sqlite_busy_ms,
            sync=core.sqlite_sync,
        )
        return SqliteStore(db, clock), db
    if core.store == "firestore":
        from mailbeacon.store.firestore import FirestoreStore

        store = FirestoreStore(
            project=core.gcp_project,
            database=core.firestore_database,
            timeout=core.firestore_timeout,
            clock=clock,
        )
        return store, None
    raise ValueError(f"unknown store {core.store!r}")


def pubsub_bus(core: Config) -> PubsubBus:
    """The bus that publishes to Pub/Sub, from the core's settings."""
    from mailbeacon.bus.pubsub import PubsubBus

    return PubsubBus(
        core.gcp_project,
        topic_prefix=core.topic_prefix,
        emulator_host=core.pubsub_emulator_host,
        timeout=core.publish_timeout,
    )


def catalog_tagger(core: Config) -> NetworkTagger:
    """Catalogue tags at the edge; the catalogues load on the first hit, not at start."""
    from mailbeacon.catalogs.loader import CatalogTagger

    return CatalogTagger(core.data_dir / "catalogs")


def tracking_only(core: Config) -> Tracking:
    """The Tracking parts for a function that serves the pixel or the click alone, from the
    core's settings only (functions/environment.py)."""
    keyring = load_keyring(core.data_dir, core.secret)
    clock = SystemClock()
    bus = pubsub_bus(core)

    @functools.cache
    def records() -> Records:
        return store_for(core, clock)[0].records

    return Tracking(
        signer=TokenSigner(keyring),
        ip_key=keyring.derive(IP_KEY_PURPOSE),
        trust_proxy=core.trust_proxy,
        tagger=catalog_tagger(core),
        clock=clock,
        bus=hit_bus(core, bus, records),
        health=Health(clock),
    )

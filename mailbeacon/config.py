"""What one running Mailbeacon is: where data lives, which backends, how the edge sees clients.

Plain values only. Reading them from flags and the environment is the edge's job
(``functions/config.py``), so the core can be built from objects in tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from .bus import DEFAULT_TOPIC_PREFIX
from .heartbeat import BEAT_FILE
from .model import DEFAULT_RETENTION

DEFAULT_PORT = 8080
SERVICES = ("addon", "chat", "slack", "dashboard", "gmail")
"""Services whose base URL may differ from the public URL (MAILBEACON_<NAME>_URL)."""


@dataclass(frozen=True)
class Config:
    """The core's configuration; every field has a working local default."""

    data_dir: Path
    public_url: str | None = None
    trust_proxy: int = 0
    insecure_dev_auth: bool = False
    store: str = "sqlite"
    bus: str = "local"
    retention: timedelta = DEFAULT_RETENTION
    gcp_project: str | None = None
    click_url: str | None = None
    firestore_database: str | None = None
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    firestore_timeout: float = 20.0
    secret: str | None = None
    """MAILBEACON_SECRET (``ID:SECRET,...``); None generates one into the data dir."""
    sqlite_sync: str = "NORMAL"
    sqlite_busy_ms: int = 5000
    pubsub_emulator_host: str | None = None
    worker: bool = True
    """Run the pipeline in this process (``MAILBEACON_WORKER=off`` runs only the edge)."""
    pull_subscriptions: bool = False
    """With the Pub/Sub bus, consume its subscriptions here by pull (cluster mode:
    `serve` sets it). Cloud Functions leave it off: Pub/Sub pushes into their entry points."""
    pull_concurrency: int = 64
    """Messages each topic's pull loop holds and handles at once in this process."""
    publish_timeout: float = 5.0
    """Seconds one Pub/Sub publish may take (MAILBEACON_PUBLISH_TIMEOUT)."""
    publish_attempts: int = 3
    """Publishes of a hit before the edge keeps it in the store (MAILBEACON_PUBLISH_ATTEMPTS)."""
    fallback_sweep_seconds: float = 60.0
    """How often cluster mode's worker republishes kept hits (MAILBEACON_FALLBACK_SWEEP_SECONDS)."""
    webhook_allow_hosts: tuple[str, ...] = ()
    alert_email_domains: tuple[str, ...] = ()
    """Domains alert emails may go to beyond each user's own (MAILBEACON_ALERT_EMAIL_DOMAINS)."""
    """``host[:port]`` accepted as webhook destinations beside Slack's and Chat's own."""
    reminder_scan_seconds: float = 30.0
    """How often `serve`'s worker looks for due reminders (MAILBEACON_REMINDER_SCAN_SECONDS)."""
    service_urls: tuple[tuple[str, str], ...] = ()
    """Base URL of each service that serves its own paths (``addon``, ``chat``, ``slack``,
    ``dashboard``), when it is not the public URL: on Cloud Functions each is its function."""
    retry_horizon: float = 6 * 3600.0
    """How long (seconds) an alert or a bus message keeps being retried before it is given
    up, and its owner told (MAILBEACON_RETRY_HORIZON)."""
    retry_base: float = 1.0
    """The first retry's delay (seconds), doubling per retry (MAILBEACON_RETRY_BASE)..."""
    retry_cap: float = 600.0
    """...up to this (MAILBEACON_RETRY_CAP), with jitter."""
    stall_seconds: float = 60.0
    """`/healthz` answers 503 once hits wait unprocessed, or the worker's heartbeat stops,
    for longer than this (MAILBEACON_STALL_SECONDS)."""
    heartbeat_seconds: float = 2.0
    """How often the worker writes its heartbeat (MAILBEACON_HEARTBEAT_SECONDS)."""
    cert_timeout: float = 5.0
    """How long fetching Google's certificates may take in all (MAILBEACON_CERT_TIMEOUT)."""
    spool_lane: int = 0
    """The hit spool lane this process appends to: one writer per lane, so `serve` gives each
    of its edge processes its own (``with_core(spool_lane=k)``); never from the environment.
    The worker drains every lane whatever its own."""

    @property
    def server_file(self) -> Path:
        return self.data_dir / "server.json"

    @property
    def heartbeat_file(self) -> Path:
        """The worker's heartbeat (mailbeacon/heartbeat.py), read by the edge's /healthz."""
        return self.data_dir / BEAT_FILE

    def resolved_public_url(self) -> str:
        """The base URL recipients reach: configured, else what `serve` recorded, else local."""
        if self.public_url:
            return self.public_url.rstrip("/")
        try:
            return json.loads(self.server_file.read_text())["public_url"].rstrip("/")
        except (OSError, ValueError, KeyError):
            return f"http://127.0.0.1:{DEFAULT_PORT}"

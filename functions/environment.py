"""The core's settings from the environment, and the typed reader every setting goes through.

Split from functions/config.py (which reads every part's settings) so that the pixel and click
functions, which need only the core's, do not import the other parts' configuration at cold
start (bench/coldstart.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from mailbeacon.config import DEFAULT_TOPIC_PREFIX, SERVICES, Config
from mailbeacon.errors import InvalidInput
from mailbeacon.model import DEFAULT_RETENTION

PREFIX = "MAILBEACON_"
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
GOOGLE_NAMES = frozenset({"GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "PUBSUB_EMULATOR_HOST"})
"""Variables set by Google's own tooling keep their own names."""


class Env:
    """Typed reads of MAILBEACON_* variables; a malformed value is InvalidInput naming it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def str(self, name: str, default: str | None = None) -> str | None:
        """MAILBEACON_<name>, or <name> itself for variables Google's tooling sets."""
        value = self.env.get(name if name in GOOGLE_NAMES else PREFIX + name)
        return value.strip() if value and value.strip() else default

    def _parsed(self, name: str, convert: Callable[[str], Any], what: str) -> Any:
        """The variable converted, None when unset; InvalidInput naming it when malformed."""
        raw = self.str(name)
        if raw is None:
            return None
        try:
            return convert(raw)
        except ValueError:
            raise InvalidInput(f"{PREFIX}{name} must be {what}, not {raw[:40]!r}") from None

    def int(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        value = self._parsed(name, int, "a whole number")
        if value is None:
            return default
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise InvalidInput(f"{PREFIX}{name} must be {limit}, not {value}")
        return value

    def float(self, name: str, default: float) -> float:
        value = self._parsed(name, float, "a number")
        if value is None:
            return default
        if not 0 < value < 1e6:
            raw = self.str(name) or ""
            raise InvalidInput(f"{PREFIX}{name} must be a positive number, not {raw[:40]!r}")
        return float(value)

    def seconds(self, name: str, default: float, *, high: float) -> float:
        """A duration that may be 0 (off), up to ``high`` seconds."""
        value = self._parsed(name, float, "seconds")
        if value is None:
            return default
        if not 0 <= value <= high:
            raise InvalidInput(f"{PREFIX}{name} must be from 0 to {high:g} seconds, not {value:g}")
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.str(name)
        if raw is None:
            return default
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise InvalidInput(f"{PREFIX}{name} must be on or off, not {raw[:40]!r}")

    def list(self, name: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in (self.str(name) or "").split(",") if p.strip())


def core_config(env: Env) -> Config:
    sync = (env.str("SQLITE_SYNC") or "NORMAL").upper()
    if sync not in ("NORMAL", "FULL"):
        raise InvalidInput(f"{PREFIX}SQLITE_SYNC must be NORMAL or FULL, not {sync[:20]!r}")
    store, bus = env.str("STORE", "sqlite"), env.str("BUS", "local")
    if store not in ("sqlite", "firestore"):
        raise InvalidInput(f"{PREFIX}STORE must be sqlite or firestore, not {store!r}")
    if bus not in ("local", "pubsub"):
        raise InvalidInput(f"{PREFIX}BUS must be local or pubsub, not {bus!r}")
    return Config(
        data_dir=Path(env.str("DATA_DIR") or ".mailbeacon"),
        public_url=env.str("PUBLIC_URL"),
        trust_proxy=env.int("TRUST_PROXY", 0, high=64),
        store=store or "sqlite",
        bus=bus or "local",
        retention=timedelta(
            days=env.int("RETENTION_DAYS", DEFAULT_RETENTION.days, low=1, high=36500)
        ),
        gcp_project=env.str("GOOGLE_CLOUD_PROJECT") or env.str("GCP_PROJECT"),
        click_url=env.str("CLICK_URL"),
        firestore_database=env.str("FIRESTORE_DATABASE"),
        topic_prefix=env.str("TOPIC_PREFIX") or DEFAULT_TOPIC_PREFIX,
        firestore_timeout=env.float("FIRESTORE_TIMEOUT", 20.0),
        secret=env.str("SECRET"),
        sqlite_sync=sync,
        sqlite_busy_ms=env.int("SQLITE_BUSY_MS", 5000, low=1, high=600_000),
        pubsub_emulator_host=env.str("PUBSUB_EMULATOR_HOST"),
        worker=env.bool("WORKER", True),
        pull_concurrency=env.int("PULL_CONCURRENCY", 64, low=1, high=1000),
        publish_timeout=env.float("PUBLISH_TIMEOUT", 5.0),
        publish_attempts=env.int("PUBLISH_ATTEMPTS", 3, low=1, high=10),
        fallback_sweep_seconds=env.float("FALLBACK_SWEEP_SECONDS", 60.0),
        webhook_allow_hosts=env.list("WEBHOOK_ALLOW_HOSTS"),
        alert_email_domains=tuple(d.lower() for d in env.list("ALERT_EMAIL_DOMAINS")),
        reminder_scan_seconds=max(0.2, env.float("REMINDER_SCAN_SECONDS", 30.0)),
        service_urls=tuple(
            (name, url.rstrip("/")) for name in SERVICES if (url := env.str(f"{name.upper()}_URL"))
        ),
        retry_horizon=env.float("RETRY_HORIZON", 6 * 3600.0),
        retry_base=env.float("RETRY_BASE", 1.0),
        retry_cap=env.float("RETRY_CAP", 600.0),
        stall_seconds=env.float("STALL_SECONDS", 60.0),
        heartbeat_seconds=env.float("HEARTBEAT_SECONDS", 2.0),
        cert_timeout=env.float("CERT_TIMEOUT", 5.0),
    )

"""Settings for one running Mailbeacon, read from flags and the environment in one place."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

DEFAULT_PORT = 8080
SERVICES = ("addon", "chat", "slack", "dashboard")
"""Services whose base URL may differ from the public URL (MAILBEACON_<NAME>_URL)."""


@dataclass(frozen=True)
class Config:
    """Where data lives, which backends to use and how the edge sees its clients."""

    data_dir: Path
    public_url: str | None = None
    trust_proxy: int = 0
    insecure_dev_auth: bool = False
    store: str = "sqlite"
    bus: str = "local"
    retention: timedelta = timedelta(days=180)
    gcp_project: str | None = None
    click_url: str | None = None
    firestore_database: str | None = None
    topic_prefix: str = "mailbeacon-"
    firestore_timeout: float = 20.0
    service_urls: tuple[tuple[str, str], ...] = ()
    """Base URL of each service that serves its own paths (``addon``, ``chat``, ``slack``,
    ``dashboard``), when it is not the public URL: on Cloud Functions each is its function."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Config:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "data_dir": Path(env.get("MAILBEACON_DATA_DIR") or ".mailbeacon"),
            "public_url": env.get("MAILBEACON_PUBLIC_URL") or None,
            "trust_proxy": int(env.get("MAILBEACON_TRUST_PROXY") or 0),
            "store": env.get("MAILBEACON_STORE") or "sqlite",
            "bus": env.get("MAILBEACON_BUS") or "local",
            "retention": timedelta(days=int(env.get("MAILBEACON_RETENTION_DAYS") or 180)),
            "gcp_project": env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT") or None,
            "click_url": env.get("MAILBEACON_CLICK_URL") or None,
            "firestore_database": env.get("MAILBEACON_FIRESTORE_DATABASE") or None,
            "topic_prefix": env.get("MAILBEACON_TOPIC_PREFIX") or "mailbeacon-",
            "firestore_timeout": float(env.get("MAILBEACON_FIRESTORE_TIMEOUT") or 20),
            "service_urls": tuple(
                (name, env[f"MAILBEACON_{name.upper()}_URL"].rstrip("/"))
                for name in SERVICES
                if env.get(f"MAILBEACON_{name.upper()}_URL")
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def server_file(self) -> Path:
        return self.data_dir / "server.json"

    def resolved_public_url(self) -> str:
        """The base URL recipients reach: configured, else what `serve` recorded, else local."""
        if self.public_url:
            return self.public_url.rstrip("/")
        try:
            return json.loads(self.server_file.read_text())["public_url"].rstrip("/")
        except (OSError, ValueError, KeyError):
            return f"http://127.0.0.1:{DEFAULT_PORT}"

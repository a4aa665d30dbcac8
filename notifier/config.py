"""The notifier's settings: credentials and endpoints per channel, coalescing and digest rules.

Read from the environment by ``functions/config.py``, the one place that does so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailbeacon.platform import (
    CHAT_API_URL,
    CHAT_CERTS_URL,
    CHAT_ISSUER_EMAILS,
    GMAIL_API_URL,
    GOOGLE_CERTS_URL,
    SLACK_API_URL,
)

COALESCE_WINDOW = timedelta(minutes=10)
"""Repeat opens within this window become one "opened again (N times)" alert."""
SETTLE = timedelta(seconds=30)
"""How long an alert waits after its hit (MAILBEACON_ALERT_SETTLE_SECONDS): hindsight sees a
scanner's walk within 5 s and a burst from several addresses within 30 s
(mailbeacon.classify.reconcile), and an alert must not announce as a person what the next
seconds show to be a machine."""


@dataclass(frozen=True)
class NotifierConfig:
    """Credentials and endpoints for every channel; a missing credential disables its channel."""

    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = SLACK_API_URL
    slack_scopes: tuple[str, ...] = ("chat:write", "im:write", "users:read", "users:read.email")
    chat_api_url: str = CHAT_API_URL
    chat_credentials: str | None = None
    chat_audience: tuple[str, ...] = ()
    chat_issuer_emails: tuple[str, ...] = CHAT_ISSUER_EMAILS
    chat_project_numbers: tuple[str, ...] = ()
    chat_certs_url: str = CHAT_CERTS_URL
    addon_service_accounts: tuple[str, ...] = ()
    google_certs_url: str = GOOGLE_CERTS_URL
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Mailbeacon <mailbeacon@localhost>"
    gmail_credentials: str | None = None
    gmail_api_url: str = GMAIL_API_URL
    coalesce_window: timedelta = COALESCE_WINDOW
    settle: timedelta = timedelta(0)
    """The settle window (SETTLE when read from the environment; none when built directly)."""
    digest_hour: int = 8
    digest_unopened_days: int = 3
    timeout_seconds: float = 10.0
    max_inline_wait: float = 5.0
    inline_retries: int = 2
    webhook_allow_hosts: tuple[str, ...] = ()
    """Extra webhook hosts (loopback receivers); checked again before every send."""
    vapid_private_key: str | None = None
    """Web Push's VAPID key (PEM or raw base64url), a secret in the cloud; locally, when unset,
    a key is made once in the data dir."""
    vapid_subject: str | None = None
    """The VAPID ``sub`` claim (RFC 8292 section 2.1): ``mailto:`` or ``https:`` contact for the
    push services' operators; None uses the public URL when it is https."""

    @property
    def slack_app_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

"""The notifier's settings, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

SLACK_API_URL = "https://slack.com/api/"
CHAT_API_URL = "https://chat.googleapis.com/"
GMAIL_API_URL = "https://gmail.googleapis.com/"
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
CHAT_ISSUER_EMAILS = ("chat@system.gserviceaccount.com",)
CHAT_CERTS_URL = (
    "https://www.googleapis.com/service_accounts/v1/metadata/x509/chat@system.gserviceaccount.com"
)


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
    coalesce_window: timedelta = timedelta(minutes=10)
    digest_hour: int = 8
    digest_unopened_days: int = 3
    timeout_seconds: float = 10.0
    max_inline_wait: float = 5.0
    inline_retries: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierConfig:
        """Every MAILBEACON_* variable the notifier reads, and nowhere else."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(f"MAILBEACON_{name}") or None

        def split(name: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in (get(name) or "").split(",") if p.strip())

        return cls(
            slack_client_id=get("SLACK_CLIENT_ID"),
            slack_client_secret=get("SLACK_CLIENT_SECRET"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_api_url=get("SLACK_API_URL") or SLACK_API_URL,
            chat_api_url=get("CHAT_API_URL") or CHAT_API_URL,
            chat_credentials=get("CHAT_CREDENTIALS"),
            chat_audience=split("CHAT_AUDIENCE"),
            chat_issuer_emails=split("CHAT_ISSUER_EMAILS") or CHAT_ISSUER_EMAILS,
            chat_project_numbers=split("CHAT_PROJECT_NUMBER"),
            chat_certs_url=get("CHAT_CERTS_URL") or CHAT_CERTS_URL,
            addon_service_accounts=split("ADDON_SERVICE_ACCOUNT"),
            google_certs_url=get("GOOGLE_CERTS_URL") or GOOGLE_CERTS_URL,
            smtp_host=get("SMTP_HOST"),
            smtp_port=int(get("SMTP_PORT") or 25),
            smtp_user=get("SMTP_USER"),
            smtp_password=get("SMTP_PASSWORD"),
            smtp_starttls=(get("SMTP_STARTTLS") or "").lower() in ("1", "true", "yes", "on"),
            mail_from=get("MAIL_FROM") or "Mailbeacon <mailbeacon@localhost>",
            gmail_credentials=get("GMAIL_CREDENTIALS"),
            gmail_api_url=get("GMAIL_API_URL") or GMAIL_API_URL,
            coalesce_window=timedelta(seconds=float(get("COALESCE_SECONDS") or 600)),
            digest_hour=int(get("DIGEST_HOUR") or 8),
            digest_unopened_days=int(get("DIGEST_UNOPENED_DAYS") or 3),
            timeout_seconds=float(get("NOTIFY_TIMEOUT") or 10),
            max_inline_wait=float(get("NOTIFY_MAX_INLINE_WAIT") or 5),
        )

    @property
    def slack_app_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

"""Every setting Mailbeacon reads from the environment, read here and nowhere else.

The entry points (the CLI, the local server, the Cloud Functions) call ``load_config`` once;
everything below them takes config objects as parameters, so a test builds an app from
objects and never touches ``os.environ``. The README's configuration table lists these names.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from addon.config import AddonConfig
from functions.dashboard.signin import SignInConfig
from functions.edge.settings import EdgeConfig
from mailbeacon.config import Config
from mailbeacon.errors import InvalidInput
from mailbeacon.platform import (
    CHAT_API_URL,
    CHAT_CERTS_URL,
    CHAT_ISSUER_EMAILS,
    GMAIL_API_URL,
    GOOGLE_CERTS_URL,
    SLACK_API_URL,
)
from mailbeacon.sentwatch import SentWatchConfig
from notifier.config import COALESCE_WINDOW, SETTLE, NotifierConfig

from .environment import PREFIX, Env, core_config


@dataclass(frozen=True)
class AppConfig:
    """Everything one process needs: the core's config and each edge's."""

    core: Config
    notifier: NotifierConfig = field(default_factory=NotifierConfig)
    addon: AddonConfig = field(default_factory=AddonConfig)
    dashboard: SignInConfig = field(default_factory=SignInConfig)
    sentwatch: SentWatchConfig = field(default_factory=SentWatchConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)

    @classmethod
    def local(cls, data_dir: Path, **core: Any) -> AppConfig:
        """A config for the embedded store with defaults everywhere else (tests, benches)."""
        config = Config(data_dir=Path(data_dir), **core)
        return cls(core=config, addon=AddonConfig(insecure_dev_auth=config.insecure_dev_auth))

    def with_core(self, **changes: Any) -> AppConfig:
        return replace(self, core=replace(self.core, **changes))


def _notifier(env: Env, allow_hosts: tuple[str, ...]) -> NotifierConfig:
    return NotifierConfig(
        slack_client_id=env.str("SLACK_CLIENT_ID"),
        slack_client_secret=env.str("SLACK_CLIENT_SECRET"),
        slack_signing_secret=env.str("SLACK_SIGNING_SECRET"),
        slack_api_url=env.str("SLACK_API_URL") or SLACK_API_URL,
        chat_api_url=env.str("CHAT_API_URL") or CHAT_API_URL,
        chat_credentials=env.str("CHAT_CREDENTIALS"),
        chat_audience=env.list("CHAT_AUDIENCE"),
        chat_issuer_emails=env.list("CHAT_ISSUER_EMAILS") or CHAT_ISSUER_EMAILS,
        chat_project_numbers=env.list("CHAT_PROJECT_NUMBER"),
        chat_certs_url=env.str("CHAT_CERTS_URL") or CHAT_CERTS_URL,
        addon_service_accounts=env.list("ADDON_SERVICE_ACCOUNT"),
        google_certs_url=env.str("GOOGLE_CERTS_URL") or GOOGLE_CERTS_URL,
        smtp_host=env.str("SMTP_HOST"),
        smtp_port=env.int("SMTP_PORT", 25, low=1, high=65535),
        smtp_user=env.str("SMTP_USER"),
        smtp_password=env.str("SMTP_PASSWORD"),
        smtp_starttls=env.bool("SMTP_STARTTLS", False),
        mail_from=env.str("MAIL_FROM") or "Mailbeacon <mailbeacon@localhost>",
        gmail_credentials=env.str("GMAIL_CREDENTIALS"),
        gmail_api_url=env.str("GMAIL_API_URL") or GMAIL_API_URL,
        coalesce_window=timedelta(
            seconds=env.float("COALESCE_SECONDS", COALESCE_WINDOW.total_seconds())
        ),
        settle=timedelta(
            seconds=env.seconds("ALERT_SETTLE_SECONDS", SETTLE.total_seconds(), high=600)
        ),
        digest_hour=env.int("DIGEST_HOUR", 8, high=23),
        digest_unopened_days=env.int("DIGEST_UNOPENED_DAYS", 3, high=365),
        timeout_seconds=env.float("NOTIFY_TIMEOUT", 10.0),
        max_inline_wait=env.float("NOTIFY_MAX_INLINE_WAIT", 5.0),
        webhook_allow_hosts=allow_hosts,
        vapid_private_key=_vapid_key(env.str("VAPID_PRIVATE_KEY")),
        vapid_subject=_vapid_subject(env.str("VAPID_SUBJECT")),
    )


def _vapid_key(value: str | None) -> str | None:
    """A PEM private key or the raw 32-byte key in base64url, by its shape (no crypto import
    here: a pixel's cold start reads this too). `serve` loads it whole before it answers."""
    if value is None:
        return None
    text = value.strip()
    pem = re.fullmatch(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END [A-Z ]*PRIVATE KEY-----",
        text,
    )
    try:
        if pem is not None:
            raw = base64.b64decode("".join(pem.group(1).split()), validate=True)
        else:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            if len(raw) != 32 or not re.fullmatch(r"[A-Za-z0-9_-]+=*", text):
                raise ValueError("not 32 bytes of base64url")
    except (ValueError, binascii.Error):
        raise InvalidInput(
            f"{PREFIX}VAPID_PRIVATE_KEY must be a PEM private key or a raw P-256 key in"
            " base64url (32 bytes)"
        ) from None
    if not raw:
        raise InvalidInput(f"{PREFIX}VAPID_PRIVATE_KEY is empty")
    return value


def _vapid_subject(value: str | None) -> str | None:
    """RFC 8292 section 2.1: the contact is a mailto: or an https: URI."""
    if value is not None and not value.startswith(("mailto:", "https://")):
        raise InvalidInput(
            f"{PREFIX}VAPID_SUBJECT must be a mailto: or https:// contact, not {value[:40]!r}"
        )
    return value


def _addon(env: Env, insecure_dev_auth: bool) -> AddonConfig:
    """MAILBEACON_ADDON_AUDIENCE, _SERVICE_ACCOUNT, _CLIENT_ID and MAILBEACON_WORKSPACE_DOMAINS
    take comma-separated lists."""
    return AddonConfig(
        workspace_domains=tuple(d.lower() for d in env.list("WORKSPACE_DOMAINS")),
        audiences=env.list("ADDON_AUDIENCE"),
        service_accounts=env.list("ADDON_SERVICE_ACCOUNT"),
        client_ids=env.list("ADDON_CLIENT_ID") or env.list("ADDON_OAUTH_CLIENT_ID"),
        certs_url=env.str("GOOGLE_CERTS_URL") or GOOGLE_CERTS_URL,
        gmail_api_url=env.str("GMAIL_API_URL") or GMAIL_API_URL,
        insecure_dev_auth=insecure_dev_auth,
    )


def _dashboard(env: Env) -> SignInConfig:
    """Dashboard sign-in: the OAuth web client, the Workspace domains, Google's endpoints."""
    defaults = SignInConfig()
    return SignInConfig(
        client_ids=env.list("SIGNIN_CLIENT_ID"),
        client_secret=env.str("SIGNIN_CLIENT_SECRET") or "",
        domains=tuple(d.lower() for d in env.list("WORKSPACE_DOMAINS")),
        certs_url=env.str("GOOGLE_CERTS_URL") or GOOGLE_CERTS_URL,
        auth_url=env.str("GOOGLE_AUTH_URL") or defaults.auth_url,
        token_url=env.str("GOOGLE_TOKEN_URL") or defaults.token_url,
        session_lifetime=timedelta(hours=env.float("SESSION_HOURS", 12.0)),
    )


def _edge(env: Env) -> EdgeConfig:
    """The local server's deadlines and limits (short ones make the attack tests fast)."""
    d = EdgeConfig()
    return EdgeConfig(
        processes=env.int("EDGE_PROCESSES", d.processes, low=0, high=64),
        header_timeout=env.float("HEADER_TIMEOUT", d.header_timeout),
        body_timeout=env.float("BODY_TIMEOUT", d.body_timeout),
        shutdown_timeout=env.float("SHUTDOWN_TIMEOUT", d.shutdown_timeout),
        send_timeout=env.float("SEND_TIMEOUT", d.send_timeout),
        stream_heartbeat=env.float("STREAM_HEARTBEAT", d.stream_heartbeat),
        web_threads=env.int("WEB_THREADS", d.web_threads, low=1, high=64),
        export_threads=env.int("EXPORT_THREADS", d.export_threads, low=1, high=64),
        exports_per_user=env.int("EXPORTS_PER_USER", d.exports_per_user, low=1, high=64),
        streams_max=env.int("STREAMS_MAX", d.streams_max, low=0, high=100_000),
        streams_per_user=env.int("STREAMS_PER_USER", d.streams_per_user, low=0, high=1000),
    )


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> AppConfig:
    """The whole configuration from ``env`` (default: the process environment); flags win.

    ``overrides`` are core fields given on the command line (None means "not given").
    Raises InvalidInput with the variable's name when a value is malformed.
    """
    reader = Env(os.environ if env is None else env)
    core = core_config(reader)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "data_dir" in given:
        given["data_dir"] = Path(given["data_dir"])
    core = replace(core, **given)
    return AppConfig(
        core=core,
        notifier=_notifier(reader, core.webhook_allow_hosts),
        addon=_addon(reader, core.insecure_dev_auth),
        dashboard=_dashboard(reader),
        sentwatch=SentWatchConfig(
            topic=reader.str("GMAIL_WATCH_TOPIC"),
            labels=reader.bool("GMAIL_LABELS", False),
            push_service_accounts=reader.list("GMAIL_PUSH_SERVICE_ACCOUNT"),
        ),
        edge=_edge(reader),
    )

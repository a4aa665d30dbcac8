"""Email alerts: through an SMTP relay (self-hosting, local) or the Gmail API as the user."""

from __future__ import annotations

import base64
import smtplib
from typing import Any

from mailbeacon.clock import Clock
from mailbeacon.errors import DeliveryFailed
from mailbeacon.model import Settings
from mailbeacon.platform import GMAIL_API_URL

from ..config import NotifierConfig
from ..mail import build_email
from ..post import Post
from .google_api import build_service, execute

GMAIL_SEND = ["https://www.googleapis.com/auth/gmail.send"]


class SmtpChannel:
    """One SMTP transaction per alert; 5xx replies are permanent, 4xx and network errors not."""

    name = "email"
    self_retrying = False

    def __init__(self, config: NotifierConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    def enabled(self, settings: Settings) -> bool:
        return bool(settings.email_to)

    def send(self, post: Post, settings: Settings) -> None:
        assert settings.email_to and self.config.smtp_host
        message = build_email(
            sender=self.config.mail_from,
            to=settings.email_to,
            subject=post.subject,
            text=post.text,
            html_body=post.html,
            at=self.clock.now(),
            key=post.key,
        )
        try:
            with smtplib.SMTP(
                self.config.smtp_host, self.config.smtp_port, timeout=self.config.timeout_seconds
            ) as smtp:
                if self.config.smtp_starttls:
                    smtp.starttls()
                if self.config.smtp_user:
                    smtp.login(self.config.smtp_user, self.config.smtp_password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            permanent = all(code >= 500 for code in codes)
            raise DeliveryFailed(
                self.name, f"recipient refused {codes}", permanent=permanent
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                self.name,
                f"SMTP {exc.smtp_code} {exc.smtp_error!r}"[:200],
                permanent=exc.smtp_code >= 500,
                status=exc.smtp_code,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                self.name, f"SMTP relay unreachable: {exc}", permanent=False
            ) from exc


class GmailChannel:
    """users.messages.send as the user, with a domain-wide-delegated service account."""

    name = "email"
    self_retrying = False

    def __init__(self, config: NotifierConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._base: Any = None

    def enabled(self, settings: Settings) -> bool:
        return bool(settings.email_to)

    def credentials(self, user: str) -> Any:
        from google.oauth2 import service_account

        if self._base is None:
            self._base = service_account.Credentials.from_service_account_file(
                self.config.gmail_credentials, scopes=GMAIL_SEND
            )
        return self._base.with_subject(user)

    def send(self, post: Post, settings: Settings) -> None:
        assert settings.email_to
        message = build_email(
            sender=settings.user,
            to=settings.email_to,
            subject=post.subject,
            text=post.text,
            html_body=post.html,
            at=self.clock.now(),
            key=post.key,
        )
        raw = base64.urlsafe_b64encode(message.as_bytes()).decode()
        try:
            service = build_service(
                "gmail",
                "v1",
                endpoint=self.config.gmail_api_url or GMAIL_API_URL,
                credentials=self.credentials(settings.user),
                timeout=self.config.timeout_seconds,
            )
            request = service.users().messages().send(userId="me", body={"raw": raw})
            execute(self.name, request, permanent_status={400, 401, 403, 404})
        except DeliveryFailed:
            raise
        except Exception as exc:  # google-auth token refusal (RefreshError) and friends
            from google.auth.exceptions import RefreshError

            if isinstance(exc, RefreshError):
                raise DeliveryFailed(
                    self.name, f"Gmail delegation refused: {exc}", permanent=True
                ) from exc
            raise


def email_channel(config: NotifierConfig, clock: Clock) -> SmtpChannel | GmailChannel | None:
    """SMTP when a relay is configured, else Gmail when a delegated key is, else no email."""
    if config.smtp_host:
        return SmtpChannel(config, clock)
    if config.gmail_credentials:
        return GmailChannel(config, clock)
    return None

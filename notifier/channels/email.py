"""Email alerts: through an SMTP relay (self-hosting, local) or the Gmail API as the user."""

from __future__ import annotations

import smtplib

from mailbeacon.clock import Clock
from mailbeacon.errors import DeliveryFailed
from mailbeacon.google.api import execute
from mailbeacon.google.gmail import GmailSender
from mailbeacon.model import Settings
from mailbeacon.platform import GMAIL_API_URL

from ..config import NotifierConfig
from ..mail import build_email
from ..post import Post


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
        assert config.gmail_credentials
        self.clock = clock
        self.gmail = GmailSender(
            config.gmail_credentials,
            config.gmail_api_url or GMAIL_API_URL,
            timeout=config.timeout_seconds,
        )

    def enabled(self, settings: Settings) -> bool:
        return bool(settings.email_to)

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
        request = self.gmail.request(settings.user, message.as_bytes())
        execute(self.name, request, permanent_status={400, 401, 403, 404})


def email_channel(config: NotifierConfig, clock: Clock) -> SmtpChannel | GmailChannel | None:
    """SMTP when a relay is configured, else Gmail when a delegated key is, else no email."""
    if config.smtp_host:
        return SmtpChannel(config, clock)
    if config.gmail_credentials:
        return GmailChannel(config, clock)
    return None

"""Where things live publicly: the pixel, each tracked link, each service's base URL and the
keyed link to a message's page in an alert."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .model import Link
from .tokens import TokenSigner

VIEW_KEY_LIFETIME = timedelta(days=30)
ACTION_LIFETIME = timedelta(days=14)


class Urls:
    """Public URLs for tokens, under the base URL the recipients can reach."""

    def __init__(
        self,
        base_url: str,
        signer: TokenSigner,
        click_url: str | None = None,
        services: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.click_url = (click_url or base_url).rstrip("/")  # clicks may have their own function
        self.services = {k: v.rstrip("/") for k, v in (services or {}).items()}
        self.signer = signer

    def service(self, name: str) -> str:
        """The base URL of the service that serves ``/name/...`` (the add-on, Chat, Slack or
        dashboard function on Cloud Functions); the public URL when one server serves all."""
        return self.services.get(name, self.base_url)

    def pixel(self, message_id: str) -> str:
        return f"{self.base_url}/p/{self.signer.pixel(message_id)}.gif"

    def link(self, message_id: str, link: Link) -> str:
        return f"{self.click_url}/c/{self.signer.link(message_id, link.index, link.url)}"

    def dashboard(
        self, message_id: str, *, now: datetime, valid: timedelta = VIEW_KEY_LIFETIME
    ) -> str:
        """The message's page, with a key that lets its owner in for ``valid``."""
        key = self.signer.view(message_id, int((now + valid).timestamp()))
        return f"{self.service('dashboard')}/dashboard/messages/{message_id}?key={key}"

    def reminder_action(self, message_id: str, action: str, *, now: datetime) -> str:
        """A reminder's button as a link: a page that asks once more (a scanner following
        links in mail must not snooze anything), then acts on POST."""
        token = self.signer.reminder_action(
            message_id, action, int((now + ACTION_LIFETIME).timestamp())
        )
        return f"{self.service('dashboard')}/reminders/act?t={token}"

"""Alerts in the user's DM with the Mailbeacon Chat app, through the Chat API.

The DM space is remembered from the app's own events (ADDED_TO_SPACE, MESSAGE) and otherwise
found with spaces.findDirectMessage; a 404 there means the user has not installed the app,
which is recorded as a problem the user sees in their settings.
"""

from __future__ import annotations

import re
from typing import Any

from mailbeacon.clock import Clock
from mailbeacon.errors import DeliveryFailed
from mailbeacon.model import Settings
from mailbeacon.platform import CHAT_API_URL
from mailbeacon.records import Namespace
from mailbeacon.store import Storage

from ..cards import REPLY_OPTION
from ..config import NotifierConfig
from ..post import Post
from .google_api import build_service, execute

DMS = Namespace.CHAT_DMS
USERS = Namespace.CHAT_USERS
SCOPES = ["https://www.googleapis.com/auth/chat.bot"]
PERMANENT_STATUS = {400, 401, 403, 404}
NOT_INSTALLED = "the Chat app is not installed for you (no DM with it): add Mailbeacon in Chat"
UNKNOWN_USER = (
    "Mailbeacon does not know your Chat user yet: open Mailbeacon in Gmail once, or message"
    " the Mailbeacon app in Chat"
)


def chat_credentials(config: NotifierConfig) -> Any:
    """The app's identity: a key file if configured, a test endpoint needs none, else ADC."""
    if config.chat_credentials:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(
            config.chat_credentials, scopes=SCOPES
        )
    if config.chat_api_url != CHAT_API_URL:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    credentials, _project = google.auth.default(scopes=SCOPES)
    return credentials


class ChatAppChannel:
    name = "chat-app"
    self_retrying = False

    def __init__(self, store: Storage, config: NotifierConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._service: Any = None

    def enabled(self, settings: Settings) -> bool:
        return settings.chat_app_dm

    def service(self) -> Any:
        if self._service is None:
            self._service = build_service(
                "chat",
                "v1",
                endpoint=self.config.chat_api_url,
                credentials=chat_credentials(self.config),
                timeout=self.config.timeout_seconds,
            )
        return self._service

    def send(self, post: Post, settings: Settings) -> None:
        space = (self.store.get_record(DMS, settings.user) or {}).get("space")
        if not space:
            space = self._find_dm(settings.user)
        request = (
            self.service()
            .spaces()
            .messages()
            .create(
                parent=space,
                body=post.chat,
                messageId=post.chat_message_id,
                messageReplyOption=REPLY_OPTION,
            )
        )
        try:
            execute(self.name, request, permanent_status=PERMANENT_STATUS)
        except DeliveryFailed as exc:
            if exc.status == 409:
                return  # ALREADY_EXISTS: our client- id was posted before a crash; done
            if exc.status == 404:
                self.store.delete_record(DMS, settings.user)
                raise DeliveryFailed(self.name, NOT_INSTALLED, permanent=True, status=404) from exc
            raise

    def _find_dm(self, email: str) -> str:
        """The DM space with ``email``, by their Chat user id: with app authentication
        spaces.findDirectMessage takes ``users/{id}`` only (the email alias is documented for
        user authentication alone). The id is learned from the app's own events or from the
        add-on's verified user token (``sub``)."""
        user = (self.store.get_record(USERS, email) or {}).get("name") or ""
        if not re.fullmatch(r"users/\d+", user):
            raise DeliveryFailed(self.name, UNKNOWN_USER, permanent=True, status=404)
        request = self.service().spaces().findDirectMessage(name=user)
        try:
            found = execute(self.name, request, permanent_status=PERMANENT_STATUS)
        except DeliveryFailed as exc:
            if exc.status == 404:
                raise DeliveryFailed(self.name, NOT_INSTALLED, permanent=True, status=404) from exc
            raise
        self.store.put_record(DMS, email, {"space": found["name"]})
        return found["name"]

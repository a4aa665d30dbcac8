"""Alerts in the user's DM with the Mailbeacon Chat app, through the Chat API.

The DM space is remembered from the app's own events (ADDED_TO_SPACE, MESSAGE) and otherwise
found with spaces.findDirectMessage; a 404 there means the user has not installed the app,
which is recorded as a problem the user sees in their settings.
"""

from __future__ import annotations

import re

from mailbeacon.clock import Clock
from mailbeacon.errors import DeliveryFailed
from mailbeacon.google.chat import ChatApi
from mailbeacon.model import Settings
from mailbeacon.records import Namespace, Records

from ..cards import REPLY_OPTION
from ..config import NotifierConfig
from ..post import Post

DMS = Namespace.CHAT_DMS
USERS = Namespace.CHAT_USERS
NOT_INSTALLED = "the Chat app is not installed for you (no DM with it): add Mailbeacon in Chat"
UNKNOWN_USER = (
    "Mailbeacon does not know your Chat user yet: open Mailbeacon in Gmail once, or message"
    " the Mailbeacon app in Chat"
)


class ChatAppChannel:
    name = "chat-app"
    self_retrying = False

    def __init__(self, store: Records, config: NotifierConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.api = ChatApi(config.chat_api_url, config.chat_credentials, config.timeout_seconds)

    def enabled(self, settings: Settings) -> bool:
        return settings.chat_app_dm

    def send(self, post: Post, settings: Settings) -> dict[str, str]:
        space = (self.store.get_record(DMS, settings.user) or {}).get("space")
        if not space:
            space = self._find_dm(settings.user)
        # A message created with a client-assigned id is named by it (Chat API, "Name a
        # message"): that name edits it later, whether this send or one before a crash made it.
        sent = {"name": f"{space}/messages/{post.chat_message_id}"}
        try:
            self.api.create_message(
                space,
                post.chat_app or post.chat,
                message_id=post.chat_message_id,
                reply_option=REPLY_OPTION,
            )
        except DeliveryFailed as exc:
            if exc.status == 409:
                return sent  # ALREADY_EXISTS: our client- id was posted before a crash; done
            if exc.status == 404:
                self.store.delete_record(DMS, settings.user)
                raise DeliveryFailed(self.name, NOT_INSTALLED, permanent=True, status=404) from exc
            raise
        return sent

    def correct(self, post: Post, settings: Settings, sent: dict[str, str]) -> None:
        """spaces.messages.patch of the alert's text and card in place."""
        body = {key: post.chat[key] for key in ("text", "cardsV2") if key in post.chat}
        self.api.update_message(sent["name"], body, update_mask="text,cardsV2")

    def _find_dm(self, email: str) -> str:
        """The DM space with ``email``, by their Chat user id: with app authentication
        spaces.findDirectMessage takes ``users/{id}`` only (the email alias is documented for
        user authentication alone). The id is learned from the app's own events or from the
        add-on's verified user token (``sub``)."""
        user = (self.store.get_record(USERS, email) or {}).get("name") or ""
        if not re.fullmatch(r"users/\d+", user):
            raise DeliveryFailed(self.name, UNKNOWN_USER, permanent=True, status=404)
        try:
            space = self.api.find_direct_message(user)
        except DeliveryFailed as exc:
            if exc.status == 404:
                raise DeliveryFailed(self.name, NOT_INSTALLED, permanent=True, status=404) from exc
            raise
        self.store.put_record(DMS, email, {"space": space})
        return space

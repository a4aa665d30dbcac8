"""The Google Chat API as the Mailbeacon Chat app (``chat.bot`` scope, app authentication).

Only the calls the app makes: find the DM space with a user, create a message in it with a
client-assigned id (a resend of the same id is 409 ALREADY_EXISTS, so an alert posts once),
and edit it by that name (a correction). Reference:
https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces/findDirectMessage,
spaces.messages/create and spaces.messages/patch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..platform import CHAT_API_URL
from .api import build_service, execute
from .credentials import app_identity

SCOPES = ("https://www.googleapis.com/auth/chat.bot",)
PERMANENT_STATUS = {400, 401, 403, 404}


@dataclass
class ChatApi:
    """Calls for ``channel`` (the name failures are reported under)."""

    api_url: str
    credentials_file: str | None
    timeout: float
    channel: str = "chat-app"
    _service: Any = field(default=None, repr=False)

    def service(self) -> Any:
        if self._service is None:
            self._service = build_service(
                "chat",
                "v1",
                endpoint=self.api_url,
                # a loopback stand-in (tests, the rehearsal) needs no identity
                credentials=app_identity(
                    self.credentials_file, SCOPES, anonymous=self.api_url != CHAT_API_URL
                ),
                timeout=self.timeout,
            )
        return self._service

    def find_direct_message(self, user_name: str) -> str:
        """The DM space's name with ``users/{id}``; DeliveryFailed (404) when there is none."""
        request = self.service().spaces().findDirectMessage(name=user_name)
        found = execute(self.channel, request, permanent_status=PERMANENT_STATUS)
        return str(found["name"])

    def create_message(
        self, space: str, body: dict[str, Any], *, message_id: str, reply_option: str
    ) -> Any:
        """spaces.messages.create with a client-assigned ``client-...`` id."""
        request = (
            self.service()
            .spaces()
            .messages()
            .create(parent=space, body=body, messageId=message_id, messageReplyOption=reply_option)
        )
        return execute(self.channel, request, permanent_status=PERMANENT_STATUS)

    def update_message(self, name: str, body: dict[str, Any], *, update_mask: str) -> Any:
        """spaces.messages.patch: ``name`` may use the client-assigned id (``client-...``)."""
        request = (
            self.service().spaces().messages().patch(name=name, body=body, updateMask=update_mask)
        )
        return execute(self.channel, request, permanent_status=PERMANENT_STATUS)

"""Google Chat incoming webhooks: a cardsV2 message, threaded per tracked email."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mailbeacon.errors import DeliveryFailed
from mailbeacon.model import Settings
from mailbeacon.retry_after import header_seconds
from mailbeacon.settings import AlertRules

from ..cards import REPLY_OPTION
from ..post import Post
from .slack_webhook import checked_webhook

# 400 is a payload Chat will never accept; 401/403/404 a deleted or revoked webhook.
PERMANENT_STATUS = {400, 401, 403, 404, 410}


def threaded_url(url: str) -> str:
    """The webhook URL with messageReplyOption set, keeping its key and token."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "messageReplyOption"]
    query.append(("messageReplyOption", REPLY_OPTION))
    return urlunsplit(parts._replace(query=urlencode(query)))


class ChatWebhookChannel:
    """Posts to the user's (or their space's) Chat webhook with ``requests``."""

    name = "chat-webhook"
    self_retrying = False

    def __init__(self, timeout: float, rules: AlertRules) -> None:
        self.timeout = timeout
        self.rules = rules
        self._session = None

    def enabled(self, settings: Settings) -> bool:
        return bool(settings.chat_webhook)

    def send(self, post: Post, settings: Settings) -> None:
        import requests

        url = checked_webhook(self.name, self.rules, settings.chat_webhook, "chat")
        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.post(
                threaded_url(url),
                json=post.chat,
                headers={"Content-Type": "application/json; charset=UTF-8"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise DeliveryFailed(self.name, f"webhook unreachable: {exc}", permanent=False) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"webhook answered {status} {response.text.strip()[:100]}".strip()
        raise DeliveryFailed(
            self.name,
            detail,
            permanent=status in PERMANENT_STATUS,
            retry_after=header_seconds(response.headers) if status == 429 else None,
            status=status,
        )

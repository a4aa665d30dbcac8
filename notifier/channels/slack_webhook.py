"""Slack incoming webhooks, one per user, through slack_sdk's WebhookClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailbeacon.errors import DeliveryFailed, InvalidInput
from mailbeacon.model import Settings
from mailbeacon.retry_after import header_seconds
from mailbeacon.settings import AlertRules

from ..post import Post
from ..retry import TRANSIENT_ERRORS, RetryPolicy

# Slack answers a dead webhook with 404/410 (and 403 for a disabled one), and a malformed
# payload with 400: none of these get better by retrying.
PERMANENT_STATUS = {400, 403, 404, 410}


class SlackWebhookChannel:
    """Posts Block Kit to the user's own webhook; retries happen inside slack_sdk."""

    name = "slack-webhook"
    self_retrying = True

    def __init__(self, policy: RetryPolicy, timeout: float, rules: AlertRules) -> None:
        self.policy = policy
        self.timeout = timeout
        self.rules = rules

    def enabled(self, settings: Settings) -> bool:
        return bool(settings.slack_webhook)

    def send(self, post: Post, settings: Settings) -> None:
        from slack_sdk.webhook import WebhookClient

        from ..slack_retry import slack_handlers

        url = checked_webhook(self.name, self.rules, settings.slack_webhook, "slack")
        client = WebhookClient(
            url,
            timeout=int(max(1, self.timeout)),
            retry_handlers=slack_handlers(self.policy),
        )
        try:
            response = client.send_dict(post.slack)
        except TRANSIENT_ERRORS as exc:
            raise DeliveryFailed(self.name, f"webhook unreachable: {exc}", permanent=False) from exc
        check_webhook_response(self.name, response.status_code, response.body, response.headers)


def checked_webhook(channel: str, rules: AlertRules, url: str | None, kind: str) -> str:
    """The URL, checked again before every send: a row written before a rule tightened (or
    by hand) must not make the server post anywhere but where the rules allow."""
    try:
        return rules.check_webhook(url or "", kind)
    except InvalidInput as exc:
        raise DeliveryFailed(channel, f"webhook refused: {exc}", permanent=True) from exc


def check_webhook_response(
    channel: str, status: int, body: str, headers: Mapping[str, Any]
) -> None:
    """WebhookClient does not raise: turn its status into success or a DeliveryFailed."""
    if 200 <= status < 300:
        return
    detail = f"webhook answered {status} {(body or '').strip()[:100]}".strip()
    if status == 429:
        raise DeliveryFailed(
            channel, detail, permanent=False, retry_after=header_seconds(headers), status=status
        )
    raise DeliveryFailed(channel, detail, permanent=status in PERMANENT_STATUS, status=status)

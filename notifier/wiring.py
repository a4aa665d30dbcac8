"""Build the notifier for a bootstrapped App: the only place that picks concrete channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbeacon.bus import DIGEST

from .channels.chat_webhook import ChatWebhookChannel
from .channels.slack_webhook import SlackWebhookChannel
from .config import NotifierConfig
from .delivery import Channel
from .handler import Notifier
from .retry import RetryPolicy

if TYPE_CHECKING:
    from mailbeacon.bootstrap import App


def build_channels(app: App, config: NotifierConfig, policy: RetryPolicy) -> list[Channel]:
    from .channels.chat_app import ChatAppChannel
    from .channels.email import email_channel
    from .channels.slack_app import SlackAppChannel

    channels: list[Channel] = [
        SlackWebhookChannel(policy, config.timeout_seconds),
        SlackAppChannel(app.store, config, policy),
        ChatWebhookChannel(config.timeout_seconds),
        ChatAppChannel(app.store, config, app.clock),
    ]
    email = email_channel(config, app.clock)
    if email is not None:
        channels.append(email)
    return channels


def build_notifier(app: App, config: NotifierConfig | None = None) -> Notifier:
    config = config or NotifierConfig.from_env()
    policy = RetryPolicy(retries=config.inline_retries, max_inline_wait=config.max_inline_wait)
    return Notifier(
        app.store,
        app.clock,
        build_channels(app, config, policy),
        dashboard_link=lambda message_id: app.urls.dashboard(message_id, now=app.clock.now()),
        policy=policy,
        window=config.coalesce_window,
        config=config,
        publish_digest=lambda payload: app.bus.publish(DIGEST, payload),
    )

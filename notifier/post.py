"""One thing to say, pre-rendered for every channel, with the key that makes it idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import blocks, cards
from .mail import html_page
from .render import AlertView


@dataclass(frozen=True)
class Post:
    """An alert or a digest in every shape a channel may need."""

    key: str
    subject: str
    text: str
    html: str
    slack: dict[str, Any]
    slack_app: dict[str, Any]
    chat: dict[str, Any]
    chat_message_id: str
    push: dict[str, Any] = field(default_factory=dict)
    """The Web Push payload: ``{"title", "body", "url", "message_id", "kind"}``."""
    chat_app: dict[str, Any] = field(default_factory=dict)
    """The Chat app's message when it differs from the webhook's (buttons that call us back:
    a Chat webhook is one-way); empty: the same as ``chat``."""

    @classmethod
    def of_alert(cls, key: str, view: AlertView) -> Post:
        rows = "".join(
            f"<tr><th align='left'>{label}</th><td>{value}</td></tr>"
            for label, value in _escaped(view.fields())
        )
        body = (
            f"<p><strong>{_e(view.headline)}</strong></p><table>{rows}</table>"
            f'<p><a href="{_e(view.dashboard_url)}">Open the dashboard</a></p>'
        )
        return cls(
            key=key,
            subject=f"[Mailbeacon] {view.headline}",
            text=view.text(),
            html=html_page(view.headline, body),
            slack=blocks.alert_message(view, mute_button=False),
            slack_app=blocks.alert_message(view, mute_button=True),
            chat=cards.alert_message(view),
            chat_message_id=chat_message_id(key),
            push=push_payload(view),
        )


def push_payload(view: AlertView) -> dict[str, Any]:
    """What the service worker shows: the headline, the facts in one line, the email's page."""
    facts = [view.when, view.sender or view.client] + ([view.link] if view.link else [])
    return {
        "title": view.headline,
        "body": " · ".join(facts),
        "url": view.dashboard_url,
        "message_id": view.message_id,
        "kind": view.kind,
    }


def chat_message_id(key: str) -> str:
    """Chat's idempotency id: ``client-`` + lowercase letters, digits, hyphens; at most 63."""
    safe = "".join(ch if ch.isalnum() and ch.isascii() else "-" for ch in key.lower())
    return f"client-{safe}"[:63]


def _e(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _escaped(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(_e(label), _e(value)) for label, value in rows]

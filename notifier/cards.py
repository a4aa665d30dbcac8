"""Google Chat messages with a cardsV2 card, threaded per tracked email, validated as built."""

from __future__ import annotations

import html
import json
from typing import Any

from mailbeacon.errors import InvalidInput

from .render import AlertView

MAX_MESSAGE_BYTES = 32_000
REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"


def alert_message(view: AlertView) -> dict[str, Any]:
    """A Chat ``Message``: fallback text, one card, and ``thread.threadKey`` for the email."""
    widgets: list[dict[str, Any]] = [
        {"decoratedText": {"topLabel": label, "text": html.escape(value), "wrapText": True}}
        for label, value in view.fields()
    ]
    widgets.append(
        {
            "buttonList": {
                "buttons": [
                    {"text": "Open dashboard", "onClick": {"openLink": {"url": view.dashboard_url}}}
                ]
            }
        }
    )
    return card_message(
        view.headline, f"alert-{view.message_id}", "Mailbeacon", widgets, view.thread_key
    )


def card_message(
    text: str, card_id: str, subtitle: str, widgets: list[dict[str, Any]], thread_key: str
) -> dict[str, Any]:
    """A Chat message of one card (its header the text, cut to Chat's title length) in a
    thread, checked as Chat would check it."""
    message = {
        "text": text,
        "cardsV2": [
            {
                "cardId": card_id[:64],
                "card": {
                    "header": {"title": text[:200], "subtitle": subtitle},
                    "sections": [{"widgets": widgets}],
                },
            }
        ],
        "thread": {"threadKey": thread_key},
    }
    check_message(message)
    return message


def check_message(message: dict[str, Any]) -> None:
    """Refuse what Chat would refuse: no content, no thread key, over 32,000 bytes."""
    if not message.get("text") and not message.get("cardsV2"):
        raise InvalidInput("a Chat message needs text or cards")
    if not (message.get("thread") or {}).get("threadKey"):
        raise InvalidInput("alerts are threaded per email: threadKey missing")
    for card in message.get("cardsV2") or ():
        if not card.get("cardId") or not card.get("card", {}).get("sections"):
            raise InvalidInput("each cardsV2 entry needs a cardId and sections")
    size = len(json.dumps(message).encode())
    if size > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"Chat message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")

"""Slack Block Kit payloads, validated as they are built (Slack rejects oversize blocks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailbeacon.errors import InvalidInput

from .render import AlertView

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_BUTTON_VALUE = 2000
MUTE_ACTION = "mailbeacon_mute"


def actions_where(payload: dict[str, Any], wanted: Callable[[Any], bool]) -> list[dict[str, Any]]:
    """The actions of a ``block_actions`` payload whose ``action_id`` is ``wanted``, in order
    (a signed payload is still not trusted to have the shape Slack documents)."""
    listed = payload.get("actions")
    return [
        a
        for a in (listed if isinstance(listed, list) else ())
        if isinstance(a, dict) and wanted(a.get("action_id"))
    ]


def _mrkdwn(text: str, limit: int) -> dict[str, str]:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) > limit:
        escaped = escaped[: limit - 1] + "…"
    return {"type": "mrkdwn", "text": escaped}


def alert_message(view: AlertView, *, mute_button: bool) -> dict[str, Any]:
    """``{"text", "blocks"}`` for chat.postMessage or an incoming webhook.

    The mute button only makes sense where Slack can call us back (the Slack app), so webhooks
    leave it out.
    """
    fields = [_mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT) for label, value in view.fields()]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(f"*{view.headline}*", MAX_SECTION_TEXT)},
        {"type": "section", "fields": fields[:10]},
    ]
    elements: list[dict[str, Any]] = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open dashboard"},
            "url": view.dashboard_url,
            "action_id": "mailbeacon_dashboard",
        }
    ]
    if mute_button:
        elements.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Mute this email"},
                "style": "danger",
                "action_id": MUTE_ACTION,
                "value": view.message_id,
            }
        )
    blocks.append({"type": "actions", "elements": elements})
    payload = {"text": view.text()[:MAX_SECTION_TEXT], "blocks": blocks}
    check_blocks(payload)
    return payload


def check_blocks(payload: dict[str, Any]) -> None:
    """Refuse a payload Slack would refuse, so the mistake surfaces here and not as a 400."""
    blocks = payload.get("blocks") or []
    if not payload.get("text"):
        raise InvalidInput("a Slack message needs fallback text")
    if len(blocks) > MAX_BLOCKS:
        raise InvalidInput(f"{len(blocks)} blocks, Slack allows {MAX_BLOCKS}")
    for block in blocks:
        if block.get("type") == "section":
            if "text" not in block and not block.get("fields"):
                raise InvalidInput("a section needs text or fields")
            if len(block.get("fields") or ()) > 10:
                raise InvalidInput("a section holds at most 10 fields")
        for element in block.get("elements") or ():
            if len(element.get("value", "")) > MAX_BUTTON_VALUE:
                raise InvalidInput("button value too long")

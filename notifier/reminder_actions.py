"""A reminder's buttons pressed in Slack (the app's block actions) or in Chat (the app's card
clicks): only the email's owner may act, and the message is updated with the outcome.

Slack: ``block_actions`` with an action id ``mailbeacon_reminder_<action>`` and the message id
as its value; the reply goes to ``response_url`` with ``replace_original`` (Slack's "Handling
user interaction" guide). Chat: ``CARD_CLICKED`` with the function ``mailbeacon.reminder`` and
the parameters ``message_id`` and ``action`` (classic events: ``common.parameters`` or
``action.parameters``; add-on events: ``commonEventObject.parameters``), answered with an
``UPDATE_MESSAGE`` (wrapped as ``updateMessageAction`` for an add-on built Chat app).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any, NamedTuple

from mailbeacon import reminders
from mailbeacon.errors import InvalidInput
from mailbeacon.records import Namespace
from mailbeacon.store import Store

from .blocks import actions_where
from .reminder_notice import (
    ACTION_PREFIX,
    CHAT_FUNCTION,
    acted_message,
    gmail_link,
    is_reminder_action,
)
from .render import local_time


class Acted(NamedTuple):
    outcome: str
    """What happened, in words."""
    gmail: str
    """The sent email in the owner's Gmail."""
    subject: str
    """The email's subject, or "(no subject)"."""


def act(store: Store, email: str, message_id: str, action: str, now: datetime) -> Acted:
    """Apply ``action`` for ``email``: what happened, the Gmail link and the subject."""
    message = store.get_message(message_id)
    if message is None or message.owner != email.lower():
        raise InvalidInput("That email is not one of yours.")
    done = reminders.apply_action(store, message_id, action, now)
    zone = store.get_settings(email).timezone
    if done.state == "scheduled":
        outcome = f"snoozed: I will remind you again {local_time(done.due_at, zone)}."
    else:
        outcome = "done: no more reminders for this email."
    sent = store.get_record(Namespace.SENT_MAIL, message_id)
    subject = message.subject or "(no subject)"
    return Acted(outcome, gmail_link(message.owner, sent, message.subject), subject)


def slack_reminder_action(
    store: Store, email: str | None, payload: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The reply to a reminder button, or None when the payload holds none (other actions)."""
    actions = actions_where(payload, is_reminder_action)
    if not actions:
        return None
    action = str(actions[0]["action_id"]).removeprefix(ACTION_PREFIX)
    message_id = str(actions[0].get("value") or "")[:64]
    try:
        if email is None:
            raise InvalidInput("That email is not one of yours.")
        outcome, gmail, subject = act(store, email, message_id, action, now)
    except InvalidInput as exc:
        return {"response_type": "ephemeral", "text": str(exc)}
    return {**acted_message(subject, outcome, gmail), "replace_original": True}


def _parameters(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(function, parameters) of a card click in either Chat event shape."""
    common = event.get("commonEventObject") or event.get("common") or {}
    common = common if isinstance(common, dict) else {}
    function = str(common.get("invokedFunction") or "")
    params = common.get("parameters") if isinstance(common.get("parameters"), dict) else {}
    action = event.get("action") if isinstance(event.get("action"), dict) else {}
    function = function or str(action.get("actionMethodName") or "")
    for item in action.get("parameters") or ():
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            params.setdefault(item["key"], str(item.get("value", "")))
    return function, {str(k): str(v) for k, v in params.items()}


def is_reminder_click(event: dict[str, Any]) -> bool:
    """A Chat card click on a reminder button (the add-on shape may omit the function)."""
    clicked = event.get("type") == "CARD_CLICKED" or "buttonClickedPayload" in (
        event.get("chat") or {}
    )
    function, params = _parameters(event)
    return clicked and (
        function in ("", CHAT_FUNCTION) and params.get("action") in reminders.ACTIONS
    )


def chat_reminder_click(
    store: Store, email: str, event: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The synchronous answer to a reminder button: the message updated with the outcome."""
    _, params = _parameters(event)
    try:
        acted = act(store, email, params.get("message_id", "")[:64], params["action"], now)
    except InvalidInput as exc:
        text = str(exc)
        message = {"text": text}
    else:
        outcome, gmail, subject = acted
        text = f"“{subject}”: {outcome}"
        button = {"text": "Open in Gmail", "onClick": {"openLink": {"url": gmail}}}
        paragraph = {"textParagraph": {"text": html.escape(text)}}
        widgets = [paragraph, {"buttonList": {"buttons": [button]}}]
        message = {
            "text": text,
            "cardsV2": [
                {
                    "cardId": f"reminder-{params.get('message_id', '')}"[:64],
                    "card": {"sections": [{"widgets": widgets}]},
                }
            ],
        }
    if isinstance(event.get("chat"), dict):
        action = {"updateMessageAction": {"message": message}}
        return {"hostAppDataAction": {"chatDataAction": action}}
    return {"actionResponse": {"type": "UPDATE_MESSAGE"}, **message}

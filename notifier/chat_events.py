"""Events the Google Chat app receives: learn and forget the user's DM space.

Accepts both the classic Chat event shape (top-level ``type``, ``space``, ``user``) and the
Workspace add-on shape (``chat.{user, addedToSpacePayload|messagePayload|...}``).
"""

from __future__ import annotations

import logging
from typing import Any

from mailbeacon.clock import Clock
from mailbeacon.errors import InvalidInput
from mailbeacon.settings import SettingsBook, SettingsChange
from mailbeacon.store import Store

from .channels.chat_app import DMS, USERS

log = logging.getLogger(__name__)

WELCOME = (
    "Mailbeacon will tell you here when a person opens or clicks in an email you tracked. "
    "Use the add-on or `mailbeacon settings` to choose what you hear about."
)


def _dict(value: Any) -> dict[str, Any]:
    """A verified event is still not trusted to have the documented shape."""
    return value if isinstance(value, dict) else {}


def _normalise(event: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(type, space, user) from either event shape; a misshapen part reads as absent."""
    chat = event.get("chat")
    if isinstance(chat, dict):
        for key, kind in (
            ("addedToSpacePayload", "ADDED_TO_SPACE"),
            ("removedFromSpacePayload", "REMOVED_FROM_SPACE"),
            ("messagePayload", "MESSAGE"),
        ):
            if key in chat:
                return kind, _dict(_dict(chat[key]).get("space")), _dict(chat.get("user"))
        return "OTHER", {}, _dict(chat.get("user"))
    return str(event.get("type") or ""), _dict(event.get("space")), _dict(event.get("user"))


def _is_dm(space: dict[str, Any]) -> bool:
    return space.get("spaceType") == "DIRECT_MESSAGE" or space.get("type") == "DM"


def handle_chat_event(
    store: Store, book: SettingsBook, event: dict[str, Any], clock: Clock
) -> dict[str, Any]:
    """Apply one verified event; the returned dict is the synchronous reply (may be empty).

    A Chat app built as a Workspace add-on must wrap its reply in a ``hostAppDataAction``.
    A reminder's button (a card click) is answered by reminder_actions.py.
    """
    from .reminder_actions import chat_reminder_click, is_reminder_click

    if is_reminder_click(event):
        _, _, user = _normalise(event)
        return chat_reminder_click(store, str(user.get("email") or ""), event, clock.now())
    reply = _apply(store, book, event)
    if reply and isinstance(event.get("chat"), dict):
        action = {"createMessageAction": {"message": reply}}
        return {"hostAppDataAction": {"chatDataAction": action}}
    return reply


def _apply(store: Store, book: SettingsBook, event: dict[str, Any]) -> dict[str, Any]:
    kind, space, user = _normalise(event)
    email = str(user.get("email") or "").lower()
    if not email or "@" not in email:
        return {}
    if isinstance(user.get("name"), str):
        store.put_record(USERS, email, {"name": user["name"]})
    named = isinstance(space.get("name"), str) and bool(space["name"])
    if kind in ("ADDED_TO_SPACE", "MESSAGE") and _is_dm(space) and named:
        known = store.get_record(DMS, email)
        store.put_record(DMS, email, {"space": space["name"]})
        if kind == "ADDED_TO_SPACE" and not store.get_settings(email).chat_app_dm:
            _set_chat_app_dm(book, email, True)
        if kind == "ADDED_TO_SPACE" or known is None:
            return {"text": WELCOME}
        return {"text": "Alerts for your tracked emails arrive in this chat."}
    if kind == "REMOVED_FROM_SPACE" and _is_dm(space):
        store.delete_record(DMS, email)
        if store.get_settings(email).chat_app_dm:
            _set_chat_app_dm(book, email, False)
    return {}


def _set_chat_app_dm(book: SettingsBook, email: str, on: bool) -> None:
    """Adding the app in a DM turns its alerts on; removing it turns them off."""
    try:
        book.update(email, SettingsChange(chat_app_dm=on))
    except InvalidInput as exc:  # an address Chat vouches for but we cannot use
        log.warning("Chat user %s: settings not changed: %s", email[:80], exc)

"""Slack interactivity (the "mute this email" button), verified before anything is read.

Slack signs ``v0:{timestamp}:{raw body}`` with the app's signing secret; slack_sdk's
SignatureVerifier checks it in constant time and refuses timestamps more than five minutes off
our clock. A request that fails is Unauthorized and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mailbeacon.clock import Clock
from mailbeacon.errors import InvalidInput, Unauthorized
from mailbeacon.json_input import read_json
from mailbeacon.platform import SLACK_API_URL, SLACK_WEBHOOK_HOST
from mailbeacon.settings import SettingsBook, SettingsChange
from mailbeacon.store import Store

from .blocks import MUTE_ACTION, actions_where
from .channels.slack_app import DMS

log = logging.getLogger(__name__)

INTERACTION = "slack_interaction"
"""A notifier-topic payload ``{INTERACTION: block_actions payload}``: work acknowledged by the
Slack route and done by the notifier's consumer."""


def _dict(value: Any) -> dict[str, Any]:
    """A signed body is still not trusted to have the shape Slack documents."""
    return value if isinstance(value, dict) else {}


def _json(text: bytes | str) -> Any:
    return read_json(text, what="the Slack body")


class _SlackClock:
    """Our Clock as the float clock slack_sdk's verifier expects."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


def verify_slack(
    signing_secret: str | None, clock: Clock, body: bytes, headers: Mapping[str, str]
) -> None:
    """Raise Unauthorized unless the raw body carries a valid, fresh Slack signature."""
    from slack_sdk.signature import SignatureVerifier

    if not signing_secret:
        raise Unauthorized("Slack signing secret not configured")
    verifier = SignatureVerifier(signing_secret, clock=_SlackClock(clock))  # type: ignore[arg-type]
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        # slack_sdk calls int() on it and lets the ValueError out
        raise Unauthorized("missing or malformed X-Slack-Request-Timestamp")
    if not (lowered.get("x-slack-signature") or "").isascii():
        # slack_sdk compares it with hmac.compare_digest, which raises on such text
        raise Unauthorized("malformed X-Slack-Signature")
    try:
        body.decode("utf-8")  # slack_sdk decodes it unguarded; Slack only sends UTF-8
    except UnicodeDecodeError as exc:
        raise Unauthorized("the body is not UTF-8, so it cannot carry Slack's signature") from exc
    if not verifier.is_valid_request(body, lowered):
        raise Unauthorized("bad or stale Slack signature")


def slack_user_email(store: Store, team_id: str, user_id: str) -> str | None:
    """The Mailbeacon user behind a Slack user, as learned when their DM was found."""
    for email, dm in store.list_records(DMS):
        if dm.get("user_id") == user_id and dm.get("team_id") == team_id:
            return email
    return None


SLACK_HOOKS = SLACK_WEBHOOK_HOST


def response_url_poster(
    api_url: str, timeout: float = 10.0
) -> Callable[[str, dict[str, Any]], None]:
    """Post a reply to an interaction's ``response_url``: Slack shows nothing a ``block_actions``
    request's HTTP reply carries (Slack's "Handling user interaction" guide: respond through
    ``response_url``). Only https://hooks.slack.com/ URLs are followed, or the origin of a
    configured test API (MAILBEACON_SLACK_API_URL); anything else is logged and dropped."""
    test_origin = (
        "" if api_url == SLACK_API_URL else "{0.scheme}://{0.netloc}/".format(urlsplit(api_url))
    )

    def post(url: str, message: dict[str, Any]) -> None:
        parts = urlsplit(url)
        trusted = (parts.scheme == "https" and parts.hostname == SLACK_HOOKS) or (
            test_origin and url.startswith(test_origin)
        )
        if not trusted:
            log.warning("ignoring a response_url outside hooks.slack.com: %.80s", url)
            return
        from slack_sdk.webhook import WebhookClient  # on first use: not on the pixel's path

        response = WebhookClient(url, timeout=timeout).send_dict(message)
        if response.status_code != 200:
            log.warning(
                "Slack response_url answered %s: %.200s", response.status_code, response.body
            )

    return post


def _mutes(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return actions_where(payload, lambda action_id: action_id == MUTE_ACTION)


def acknowledge(
    signing_secret: str | None, clock: Clock, body: bytes, headers: Mapping[str, str]
) -> dict[str, Any] | None:
    """Verify an interaction and say what is left to do: the payload when it asks for work (a
    mute, a reminder's button), None for anything else (an "Open dashboard" URL button still
    sends a payload that must be acknowledged: docs.slack.dev, "Button element", ``url``). No
    store or network is
    touched here: Slack waits 3 seconds for the HTTP 200 ("Acknowledging requests",
    docs.slack.dev/tools/bolt-python/concepts/acknowledge), and a function scaled to zero
    spends them starting; the work is handed on (``apply_interaction``) and done after."""
    verify_slack(signing_secret, clock, body, headers)
    try:
        payload = _json(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a Slack interactivity payload") from exc
    if not isinstance(payload, dict):
        raise InvalidInput("not a Slack interactivity payload")
    return payload if _mutes(payload) or _reminder_buttons(payload) else None


def _reminder_buttons(payload: dict[str, Any]) -> bool:
    from .reminder_notice import is_reminder_action

    return bool(actions_where(payload, is_reminder_action))


def apply_interaction(
    store: Store,
    book: SettingsBook,
    respond: Callable[[str, dict[str, Any]], None],
    payload: dict[str, Any],
    clock: Clock,
) -> dict[str, Any]:
    """Apply an acknowledged block action (a reminder's Snooze or Done; a mute goes through
    ``book``, the one settings writer with the configured rules) and confirm it through the
    payload's ``response_url`` (good for 30 minutes, five times); returns the confirmation."""
    reply = reminder_interaction(store, clock, payload) or _apply_interaction(store, book, payload)
    url = payload.get("response_url")
    if isinstance(url, str) and url:
        respond(url, {"replace_original": False, **reply})
    return reply


def reminder_interaction(
    store: Store, clock: Clock, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """A reminder's Snooze or Done button (reminder_actions.py); None for any other action."""
    from .reminder_actions import slack_reminder_action

    user = _dict(payload.get("user"))
    team = _dict(payload.get("team")).get("id") or user.get("team_id")
    email = slack_user_email(store, str(team), str(user.get("id")))
    return slack_reminder_action(store, email, payload, clock.now())


def _apply_interaction(store: Store, book: SettingsBook, payload: dict[str, Any]) -> dict[str, Any]:
    actions = _mutes(payload)
    if not actions:
        return {"response_type": "ephemeral", "text": "Nothing to do."}
    user = _dict(payload.get("user"))
    team = _dict(payload.get("team")).get("id") or user.get("team_id")
    email = slack_user_email(store, str(team), str(user.get("id")))
    message_id = str(actions[0].get("value") or "")[:64]
    message = store.get_message(message_id)
    if email is None or message is None or message.owner != email:
        return {"response_type": "ephemeral", "text": "That email is not one of yours."}
    book.update(email, SettingsChange(mute=(message_id,)))
    subject = message.subject or "(no subject)"
    return {"response_type": "ephemeral", "text": f"Muted “{subject}”: no more alerts for it."}


def handle_event(
    store: Store,
    signing_secret: str | None,
    clock: Clock,
    body: bytes,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """Events API: answer the URL check, forget a workspace that uninstalled the app."""
    from .slack_install import StoreInstallationStore

    verify_slack(signing_secret, clock, body, headers)
    envelope = _json(body)
    if not isinstance(envelope, dict):
        raise InvalidInput("not a Slack event")
    if envelope.get("type") == "url_verification":
        return {"challenge": str(envelope.get("challenge", ""))[:200]}
    event = _dict(envelope.get("event"))
    team = envelope.get("team_id")
    if event.get("type") in ("app_uninstalled", "tokens_revoked") and isinstance(team, str):
        StoreInstallationStore(store).delete_installation(
            enterprise_id=str(envelope.get("enterprise_id") or "") or None, team_id=team
        )
        for email, dm in store.list_records(DMS):
            if dm.get("team_id") == team:
                store.delete_record(DMS, email)
    return {}

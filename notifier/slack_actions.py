"""Slack interactivity (the "mute this email" button), verified before anything is read.

Slack signs ``v0:{timestamp}:{raw body}`` with the app's signing secret; slack_sdk's
SignatureVerifier checks it in constant time and refuses timestamps more than five minutes off
our clock. A request that fails is Unauthorized and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from mailbeacon.clock import Clock
from mailbeacon.errors import InvalidInput, Unauthorized
from mailbeacon.settings import SettingsChange, WebhookRules, update_settings
from mailbeacon.store import Storage

from .blocks import MUTE_ACTION
from .channels.slack_app import DMS


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
    if not verifier.is_valid_request(body, lowered):
        raise Unauthorized("bad or stale Slack signature")


def slack_user_email(store: Storage, team_id: str, user_id: str) -> str | None:
    """The Mailbeacon user behind a Slack user, as learned when their DM was found."""
    for email, dm in store.list_records(DMS):
        if dm.get("user_id") == user_id and dm.get("team_id") == team_id:
            return email
    return None


def handle_interaction(
    store: Storage,
    signing_secret: str | None,
    clock: Clock,
    body: bytes,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """Verify, then apply a block action; the returned dict is Slack's (ephemeral) reply."""
    verify_slack(signing_secret, clock, body, headers)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a Slack interactivity payload") from exc
    actions = [a for a in payload.get("actions") or () if a.get("action_id") == MUTE_ACTION]
    if not actions:
        return {"text": "Nothing to do."}
    team = (payload.get("team") or {}).get("id") or (payload.get("user") or {}).get("team_id")
    email = slack_user_email(store, str(team), str((payload.get("user") or {}).get("id")))
    message_id = str(actions[0].get("value") or "")
    message = store.get_message(message_id)
    if email is None or message is None or message.owner != email:
        return {"response_type": "ephemeral", "text": "That email is not one of yours."}
    update_settings(store, store, email, SettingsChange(mute=(message_id,)), WebhookRules())
    subject = message.subject or "(no subject)"
    return {"response_type": "ephemeral", "text": f"Muted “{subject}”: no more alerts for it."}


def handle_event(
    store: Storage,
    signing_secret: str | None,
    clock: Clock,
    body: bytes,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """Events API: answer the URL check, forget a workspace that uninstalled the app."""
    from .slack_install import StoreInstallationStore

    verify_slack(signing_secret, clock, body, headers)
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise InvalidInput("not a Slack event") from exc
    if envelope.get("type") == "url_verification":
        return {"challenge": str(envelope.get("challenge", ""))}
    event = envelope.get("event") or {}
    if event.get("type") in ("app_uninstalled", "tokens_revoked"):
        team = envelope.get("team_id")
        StoreInstallationStore(store).delete_installation(
            enterprise_id=envelope.get("enterprise_id"), team_id=team
        )
        for email, dm in store.list_records(DMS):
            if dm.get("team_id") == team:
                store.delete_record(DMS, email)
    return {}

"""The settings card's form: read every field, validate strictly, and either return the new
Settings (the same model the CLI writes) or every problem found, keyed by field. Nothing is
saved unless every field is valid."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbeacon.errors import InvalidInput
from mailbeacon.model import Notify, QuietHours, Settings, Strictness
from mailbeacon.services import check_email

from .events import AddonEvent

OFF, WEBHOOK, APP_DM = "off", "webhook", "app"
SLACK_HOST = "hooks.slack.com"
CHAT_HOST = "chat.googleapis.com"
MAX_WEBHOOK = 1000


def check_webhook(url: str, host: str, path_prefix: str) -> str:
    """An incoming-webhook URL must be https on the platform's own host: anything else could
    make the notifier post alerts (and their contents) to a server of someone's choosing."""
    value = url.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}") from exc
    if len(value) > MAX_WEBHOOK or any(ch.isspace() for ch in value) or not value.isascii():
        raise InvalidInput("the URL is too long or contains spaces")
    if parts.scheme != "https":
        raise InvalidInput(f"must start with https://{host}/")
    if parts.username or parts.password or port not in (None, 443):
        raise InvalidInput("must not carry a user name, password or port")
    if (parts.hostname or "").lower() != host:
        raise InvalidInput(f"must be on {host}, not {parts.hostname or 'nothing'}")
    if not parts.path.startswith(path_prefix) or len(parts.path) <= len(path_prefix):
        raise InvalidInput(f"expected https://{host}{path_prefix}...")
    return value


def _channel(
    event: AddonEvent, prefix: str, host: str, path: str, errors: dict[str, str]
) -> tuple[str | None, bool]:
    mode = event.value(f"{prefix}_mode", OFF)
    url = event.value(f"{prefix}_webhook")
    if mode == OFF:
        return None, False
    if mode == APP_DM:
        return None, True
    if mode != WEBHOOK:
        errors[f"{prefix}_mode"] = f"unknown choice {mode!r}"
        return None, False
    if not url:
        errors[f"{prefix}_webhook"] = "paste the incoming webhook URL, or choose another option"
        return None, False
    try:
        return check_webhook(url, host, path), False
    except InvalidInput as exc:
        errors[f"{prefix}_webhook"] = str(exc)
        return None, False


def _hour(value: str, name: str, errors: dict[str, str]) -> int | None:
    if value in ("", OFF):
        return None
    if not value.isdigit() or not 0 <= int(value) <= 23:
        errors[name] = f"an hour from 0 to 23, not {value!r}"
        return None
    return int(value)


def parse_settings(current: Settings, event: AddonEvent) -> tuple[Settings, dict[str, str]]:
    """The settings the form asks for, and the problems (empty when it may be saved)."""
    errors: dict[str, str] = {}
    slack_webhook, slack_dm = _channel(event, "slack", SLACK_HOST, "/services/", errors)
    chat_webhook, chat_dm = _channel(event, "chat", CHAT_HOST, "/v1/spaces/", errors)
    email_to: str | None = None
    if raw := event.value("email_to"):
        try:
            email_to = check_email(raw)
        except InvalidInput:
            errors["email_to"] = f"not an email address: {raw[:80]}"
    try:
        notify = Notify(event.value("notify", current.notify.value))
    except ValueError:
        errors["notify"] = "choose one of the listed options"
        notify = current.notify
    try:
        strictness = Strictness(event.value("strictness", current.strictness.value))
    except ValueError:
        errors["strictness"] = "choose one of the listed options"
        strictness = current.strictness
    start = _hour(event.value("quiet_start"), "quiet_start", errors)
    end = _hour(event.value("quiet_end"), "quiet_end", errors)
    quiet: QuietHours | None = None
    if (start is None) != (end is None):
        errors["quiet_end" if end is None else "quiet_start"] = "set both hours, or neither"
    elif start is not None and end is not None:
        if start == end:
            errors["quiet_end"] = "the quiet hours must end at a different hour"
        else:
            quiet = QuietHours(start, end)
    timezone = event.timezone or current.timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = f"unknown time zone {timezone[:60]!r}"
    updated = replace(
        current,
        slack_webhook=slack_webhook,
        slack_app_dm=slack_dm,
        chat_webhook=chat_webhook,
        chat_app_dm=chat_dm,
        email_to=email_to,
        notify=notify,
        quiet_hours=quiet,
        timezone=timezone,
        strictness=strictness,
    )
    return updated, errors

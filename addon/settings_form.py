"""The settings card's form: read every field into a SettingsChange and report every problem
at once, keyed by the form's field names. The rules themselves are the core's
(``mailbeacon.settings``), shared with the CLI and every other writer."""

from __future__ import annotations

from dataclasses import replace

from mailbeacon import words
from mailbeacon.errors import InvalidInput
from mailbeacon.model import QuietHours, Settings
from mailbeacon.settings import AlertRules, SettingsChange, apply_change, check_quiet_hours

from .events import AddonEvent

OFF, WEBHOOK, APP_DM = "off", "webhook", "app"
FORM_FIELD = {"quiet_hours": "quiet_end"}
"""A core field's error shown beside the form field that set it."""


def _channel(event: AddonEvent, prefix: str, errors: dict[str, str]) -> tuple[str | None, bool]:
    """(webhook URL, app DM) for one channel's radio buttons and URL field."""
    mode = event.value(f"{prefix}_mode", OFF)
    url = event.value(f"{prefix}_webhook")
    if mode == OFF:
        return None, False
    if mode == APP_DM:
        return None, True
    if mode != WEBHOOK:
        errors[f"{prefix}_mode"] = f"unknown choice {mode[:40]!r}"
        return None, False
    if not url:
        errors[f"{prefix}_webhook"] = "paste the incoming webhook URL, or choose another option"
    return url or None, False


def _hour(value: str, name: str, errors: dict[str, str]) -> int | None:
    if value in ("", OFF):
        return None
    if not (value.isascii() and value.isdigit()) or not 0 <= int(value) <= 23:
        errors[name] = f"an hour from 0 to 23, not {value[:20]!r}"
        return None
    return int(value)


def _quiet_hours(event: AddonEvent, errors: dict[str, str]) -> QuietHours | None:
    start = _hour(event.value("quiet_start"), "quiet_start", errors)
    end = _hour(event.value("quiet_end"), "quiet_end", errors)
    if (start is None) != (end is None):
        errors["quiet_end" if end is None else "quiet_start"] = words.QUIET_BOTH
    elif start is not None and end is not None:
        try:
            return check_quiet_hours(start, end)
        except InvalidInput as exc:
            errors["quiet_end"] = str(exc)
    return None


def parse_settings(
    current: Settings, event: AddonEvent, rules: AlertRules
) -> tuple[SettingsChange, Settings, dict[str, str]]:
    """The change the form asks for, the settings it would give, and the problems by field
    (empty when it may be saved)."""
    errors: dict[str, str] = {}
    slack_webhook, slack_dm = _channel(event, "slack", errors)
    chat_webhook, chat_dm = _channel(event, "chat", errors)
    change = SettingsChange(
        slack_webhook=slack_webhook,
        slack_app_dm=slack_dm,
        chat_webhook=chat_webhook,
        chat_app_dm=chat_dm,
        email_to=event.value("email_to") or None,
        notify=event.value("notify", current.notify.value),
        strictness=event.value("strictness", current.strictness.value),
        quiet_hours=_quiet_hours(event, errors),
        timezone=event.timezone or current.timezone,
        reply_alerts=event.value("reply_alerts", "on" if current.reply_alerts else "off") == "on",
        remind_days=event.value("remind_days", str(current.remind_days or "off")),
    )
    updated, problems = apply_change(current, change, rules)
    for name, why in problems.items():
        errors.setdefault(FORM_FIELD.get(name, name), why)
    if "quiet_start" in errors or "quiet_end" in errors:
        change = replace(change, quiet_hours=current.quiet_hours)
    return change, updated, errors

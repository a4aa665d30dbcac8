"""`mailbeacon settings`: show or change a user's alerts, through the core's one set of rules."""

from __future__ import annotations

import argparse
import json

from mailbeacon.model import Settings
from mailbeacon.records import Records
from mailbeacon.settings import InvalidSettings, SettingsChange, apply_change
from mailbeacon.tracking import owned_message
from mailbeacon.validation import check_email

from ..bootstrap import alert_rules, bootstrap
from .common import config_of, require_data
from .show import settings_text

FLAGS = (
    "slack_webhook",
    "slack_app_dm",
    "chat_webhook",
    "chat_app_dm",
    "email_to",
    "notify",
    "quiet_hours",
    "timezone",
    "strictness",
    "reply_alerts",
    "remind_days",
    "webhook_url",
)
"""Flags that set one field each; a flag not given leaves its field as it is."""


def change_of(args: argparse.Namespace) -> SettingsChange:
    """The flags given, as one change for the core's rules."""
    values = {name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None}
    return SettingsChange(
        **values,
        mute=tuple(args.mute),
        unmute=tuple(args.unmute),
        clear_problems=args.clear_problems,
        rotate_webhook_secret=args.rotate_webhook_secret,
    )


def settings_view(records: Records, current: Settings) -> dict[str, object]:
    """The user's settings as shown, with the browsers they turned Web Push on in."""
    from mailbeacon.push import list_subscriptions

    data = current.to_dict()
    data["browser"] = {"subscriptions": len(list_subscriptions(records, current.user))}
    return data


def cmd_settings(args: argparse.Namespace) -> int:
    config = config_of(args)
    user = check_email(args.user)
    change = change_of(args)
    _, errors = apply_change(Settings(user=user), change, alert_rules(config))  # before writing
    if errors:
        raise InvalidSettings(errors)
    app = bootstrap(require_data(config) if change.empty else config)
    try:
        for message_id in change.mute:  # only the user's own emails can be muted
            owned_message(app.store, message_id, user)
        book = app.settings
        current = book.get(user) if change.empty else book.update(user, change)
        data = settings_view(app.records, current)
    finally:
        app.close()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(settings_text(data))
    return 0

"""`mailbeacon remind MESSAGE_ID --days N | --at ISO | --clear`: a follow-up reminder, set or
cleared from the command line (the API's POST and DELETE /api/v1/messages/{id}/reminder)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mailbeacon import reminders
from mailbeacon.tracking import owned_message

from ..bootstrap import bootstrap
from .common import config_of


def cmd_remind(args: argparse.Namespace) -> int:
    app = bootstrap(config_of(args))
    try:
        message = owned_message(app.store, args.message_id, None)
        now = app.clock.now()
        data: dict[str, Any] = {"message_id": message.id}
        if args.clear:
            reminders.clear_reminder(app.records, message.id)
            data["reminder"] = None
        else:
            due = args.at if args.at else reminders.due_in_days(message, args.days, now)
            summary = app.store.get_summary(message.id)
            found = reminders.remind(app.records, message, due, now, summary).to_public()
            data |= {**found, "reminder": found}
    finally:
        app.close()
    if args.json:
        print(json.dumps(data, indent=2))
    elif data["reminder"] is None:
        print(f"no reminder for {message.id}")
    else:
        print(f"reminder for {message.id}: {data['state']}, due {data['due_at']}")
    return 0

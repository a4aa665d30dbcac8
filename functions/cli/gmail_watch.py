"""`mailbeacon gmail-watch`: the sent-mail watch and Gmail labels (domain-wide delegation).

``renew`` starts or renews every sender's watch and marks drafts never sent (run it daily:
Cloud Scheduler in the cloud); ``push`` handles one Pub/Sub notification's data; ``labels``
records a user's opt-in to Mailbeacon/Opened and /Clicked labels.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mailbeacon.errors import InvalidInput
from mailbeacon.sentwatch import (
    Mailbox,
    handle_push,
    mark_unsent,
    renew_watches,
    set_label_opt_in,
    watched_users,
)
from mailbeacon.validation import check_email

from ..bootstrap import bootstrap
from .common import config_of


def _mailbox(mailbox: Mailbox | None) -> Mailbox:
    if mailbox is None:
        raise InvalidInput(
            "the sent-mail watch needs MAILBEACON_GMAIL_CREDENTIALS and"
            " MAILBEACON_GMAIL_WATCH_TOPIC (or MAILBEACON_GMAIL_LABELS=on)"
        )
    return mailbox


def cmd_gmail_watch(args: argparse.Namespace) -> int:
    config = config_of(args)
    if args.watch_command == "labels":
        user = check_email(args.user)
    elif args.watch_command == "push":
        try:
            data = json.loads(args.data)
        except ValueError:
            raise InvalidInput("--data must be the notification JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("emailAddress"), str):
            raise InvalidInput('--data must hold "emailAddress" and "historyId"')
    elif not config.sentwatch.topic:
        raise InvalidInput("set MAILBEACON_GMAIL_WATCH_TOPIC to projects/PROJECT/topics/TOPIC")
    app = bootstrap(config)
    try:
        now = app.clock.now()
        if args.watch_command == "labels":
            set_label_opt_in(app.records, user, args.state, now)
            result: dict[str, Any] = {"user": user, "labels": args.state}
        elif args.watch_command == "push":
            mailbox = _mailbox(app.mailbox)
            matched = handle_push(
                mailbox, app.store, app.records, app.signer, data, replies=app.replies
            )
            result = {"matched": matched}
        else:
            users = [check_email(u) for u in args.user] or watched_users(app.records)
            assert config.sentwatch.topic is not None
            renewed = renew_watches(
                _mailbox(app.mailbox), app.records, users, config.sentwatch.topic, now
            )
            unsent = mark_unsent(app.store, app.records, users, now)
            result = {"renewed": renewed, "users": len(users), "unsent": unsent}
    finally:
        app.close()
    print(json.dumps(result, indent=2) if args.json else _line(result))
    return 0


def _line(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in result.items())

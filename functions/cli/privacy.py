"""`mailbeacon export` and `mailbeacon delete`: a user's data, all of it, out or gone."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mailbeacon import words
from mailbeacon.errors import InvalidInput
from mailbeacon.files import write_private
from mailbeacon.privacy import delete_message, delete_user, export_user
from mailbeacon.stats import get_stats_with_pending
from mailbeacon.validation import check_email

from ..bootstrap import bootstrap
from .common import config_of, require_data


def cmd_export(args: argparse.Namespace) -> int:
    check_email(args.user)
    app = bootstrap(require_data(config_of(args)))
    worker = app.worker

    def stats(message_id: str, owner: str) -> dict[str, Any]:
        """Hits the server answered but has not processed yet are counted, classified here
        and not stored, as `mailbeacon stats` does: export never waits for the worker."""
        pending = worker.pending_hits(message_id) if worker is not None else []
        return get_stats_with_pending(
            app.store,
            app.classifier,
            message_id,
            pending,
            owner=owner,
            retention=app.config.core.retention,
        )

    try:
        data = export_user(app.store, args.user, stats)
    finally:
        app.close()
    text = json.dumps(data, indent=2)
    if args.output in (None, "-"):
        print(text)
    else:
        write_private(args.output, text + "\n")  # personal data: readable by its owner only
        print(f"exported {len(data['messages'])} messages of {data['user']} to {args.output}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    if args.message:
        return delete_one(args)
    email = check_email(args.user)
    if not args.yes:
        raise InvalidInput(f"this deletes all of {email}'s data for good: add --yes to confirm")
    app = bootstrap(require_data(config_of(args)))
    try:
        deletion = delete_user(app.store, app.records, email, at=app.clock.now())
    finally:
        app.close()
    data = deletion.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"deleted all data of {email}:")
    print(f"  messages: {data['messages']}")
    print(f"  events: {data['events']}")
    print(f"  settings: {data['settings']}")
    print(f"  pending hits: {data['pending_hits']}")
    for namespace, count in data["records"].items():
        print(f"  records {namespace}: {count}")
    sys.stdout.flush()
    return 0


def delete_one(args: argparse.Namespace) -> int:
    """`mailbeacon delete --message ID --yes`: one email, its events and its counts."""
    if not args.yes:
        raise InvalidInput(f"this deletes email {args.message} for good: add --yes to confirm")
    app = bootstrap(require_data(config_of(args)))
    try:
        deletion = delete_message(app.store, app.records, args.message, owner=None)
    finally:
        app.close()
    data = {"message_id": args.message, **deletion.to_dict()}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        events = words.plural(data["events"], "open or click", "opens and clicks")
        print(f"deleted email {args.message} of {data['user']}, with its {events}")
    return 0

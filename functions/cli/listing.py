"""`mailbeacon list`: a user's tracked emails, filtered and sorted as on the dashboard."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta

from mailbeacon import localtime, reporting, words
from mailbeacon.clock import iso
from mailbeacon.errors import FieldError
from mailbeacon.validation import check_email

from ..bootstrap import bootstrap
from .common import config_of, require_data, zone_of
from .show import table


def query_args(args: argparse.Namespace, tz: str) -> dict[str, str]:
    """The flags as the dashboard's (and the API's) parameters: a date is a day in ``tz``
    (--until includes that whole day)."""
    found = {"sort": args.sort, "limit": str(args.limit)}
    if args.status:
        found["status"] = args.status
    if args.search:
        found["q"] = args.search
    for name, extra in (("since", 0), ("until", 1)):
        value = getattr(args, name)
        if not value:
            continue
        try:
            day = datetime.fromisoformat(value)
        except ValueError:
            raise FieldError(name, f"must be a date such as 2026-03-02, not {value!r}") from None
        found[name] = (
            localtime.day_start(day + timedelta(days=extra), tz).isoformat()
            if len(value) == 10
            else value
        )
    return found


def cmd_list(args: argparse.Namespace) -> int:
    user = check_email(args.user)
    config = require_data(config_of(args))
    app = bootstrap(config)
    try:
        tz = zone_of(app.store, user, args.timezone)
        query = reporting.parse_message_query(query_args(args, tz))
        rows, cursor = reporting.list_messages(app.store, user, query)
        now = app.clock.now()
    finally:
        app.close()
    shown = [reporting.row_public(r) for r in rows]
    if args.json:
        print(json.dumps({"messages": shown, "next_cursor": cursor}, indent=2))
        return 0
    if not shown:
        if args.status or args.search or args.since or args.until:
            print(f"No tracked emails of {user} match these filters.")
        else:
            print(f"No tracked emails of {user} yet. Track one with: mailbeacon track --sender"
                  f" {user} --to them@example.com --subject Hello")  # fmt: skip
        return 0
    body = []
    for m, row in zip(shown, rows, strict=True):
        last = row.summary.last_activity_at
        body.append(
            [
                localtime.stamp(row.message.reference_time, tz),
                words.status(m["status"]),
                str(m["opens"]["human"]),
                str(m["clicks"]["human"]),
                localtime.ago(last, now) if last else "none yet",
                m["subject"] or "(no subject)",
                words.joined(m["recipients"], 2),
                m["message_id"],
            ]
        )
    header = ["Sent", "Status", "Opens", "Clicks", "Last activity", "Subject", "To", "Id"]
    print(table(header, body, [16, 14, 5, 6, 14, 32, 28, 0]))
    more = " More: add --limit, or narrow with --since/--until." if cursor else ""
    print(f"\n{words.plural(len(shown), 'email')}, times in {tz} (as of {iso(now)}).{more}")
    return 0

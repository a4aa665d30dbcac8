"""`mailbeacon track` and `mailbeacon stats`: register a tracked message, show its engagement."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from mailbeacon.sentwatch import sent_status
from mailbeacon.stats import get_stats_with_pending
from mailbeacon.tracking import track_message
from mailbeacon.validation import check_sent_at, check_track

from ..bootstrap import bootstrap
from .common import config_of, require_data, zone_of
from .show import stats_text


def cmd_track(args: argparse.Namespace) -> int:
    # Refuse bad input before the store exists: a refused command creates no files.
    check_track(sender=args.sender, recipients=args.to, subject=args.subject, links=args.link)
    check_sent_at(args.sent_at, datetime.now(UTC), "--sent-at")
    app = bootstrap(config_of(args))
    try:
        tracked = track_message(
            app.store,
            app.urls,
            app.clock,
            sender=args.sender,
            recipients=args.to,
            subject=args.subject,
            links=args.link,
            sent_at=args.sent_at,
            records=app.records,
        )
    finally:
        app.close()
    data = tracked.to_public()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"Tracking message {data['message_id']}")
        print(f"  pixel: {data['pixel_url']}")
        for link in data["links"]:
            print(f"  link:  {link['url']} -> {link['tracked_url']}")
        print("Paste this HTML at the end of the email:")
        print(data["html"])
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    app = bootstrap(require_data(config_of(args), message_id=args.message_id))
    try:
        # Hits the server answered but has not processed yet are counted, classified here and
        # not stored: stats never waits for the worker and is never behind what was served.
        pending = app.worker.pending_hits(args.message_id) if app.worker is not None else []
        data = get_stats_with_pending(
            app.store,
            app.classifier,
            args.message_id,
            pending,
            retention=app.config.core.retention,
        )
        if (gmail := sent_status(app.records, args.message_id)) is not None:
            data["gmail"] = gmail  # what the sent-mail watch learnt
        tz = zone_of(app.store, data["owner"], args.timezone)
        now = app.clock.now()
    finally:
        app.close()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(stats_text(data, tz, now))
    return 0

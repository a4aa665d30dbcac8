"""`mailbeacon deadletters list|replay`: the messages a consumer gave up on, and putting them
back once the cause is fixed (handling is idempotent, so a replayed hit counts once).

Locally they are the outbox's rows set aside after their attempts; on Pub/Sub (the cloud, or
cluster mode) they are what each ``<topic>-dead`` topic received, kept by its
``<topic>-dead-kept`` subscription (the deploy plan and cluster mode create both).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mailbeacon.bus import TOPICS

from .common import config_of


def cmd_deadletters(args: argparse.Namespace) -> int:
    config = config_of(args)
    topics = (args.topic,) if args.topic else TOPICS
    if config.core.bus == "pubsub":
        from mailbeacon.bus.pubsub_dead import PubsubDeadLetters

        if not config.core.gcp_project:
            from mailbeacon.errors import InvalidInput

            raise InvalidInput("Pub/Sub needs a project: set GOOGLE_CLOUD_PROJECT")
        letters = PubsubDeadLetters(
            config.core.gcp_project,
            topic_prefix=config.core.topic_prefix,
            emulator_host=config.core.pubsub_emulator_host,
        )
        if args.deadletters_command == "replay":
            return _replayed(args, letters.replay(topics, limit=args.limit))
        return _listed(args, [letter.to_dict() for letter in letters.list(topics, args.limit)])
    from mailbeacon.bus.local import LocalBus
    from mailbeacon.store.sqlite import Database

    core = config.core
    database = Database(
        core.data_dir / "mailbeacon.db", busy_timeout_ms=core.sqlite_busy_ms, sync=core.sqlite_sync
    )
    try:
        bus = LocalBus(database)
        if args.deadletters_command == "replay":
            replayed = sum(bus.replay_dead_letters(topic) for topic in topics)
            return _replayed(args, replayed)
        rows = [row for row in bus.dead_letters() if row["topic"] in topics][: args.limit]
        return _listed(args, rows)
    finally:
        database.close()


def _listed(args: argparse.Namespace, letters: list[dict[str, Any]]) -> int:
    if args.json:
        print(json.dumps({"dead_letters": letters}, default=str))
        return 0
    for letter in letters:
        payload = letter.get("payload") or {}
        what = payload.get("message_id") or payload.get("event_id") or ""
        why = letter.get("error") or f"{letter.get('delivery_attempts', '?')} attempts"
        print(f"{letter['topic']:<7} {what:<24} {why}")
    print(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}")
    return 0


def _replayed(args: argparse.Namespace, count: int) -> int:
    if args.json:
        print(json.dumps({"replayed": count}))
    else:
        print(f"replayed {count} dead letter{'s' if count != 1 else ''}")
    return 0

"""A message's engagement as `mailbeacon stats` and the add-on show it, counting the hits the
edge answered that the pipeline has not processed yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from .model import DEFAULT_RETENTION, Hit
from .pipeline import Classifier, classify_hit
from .store import CONTEXT_EVENTS, MessageEvents
from .summary import message_stats
from .tracking import owned_message


def get_stats(store: MessageEvents, message_id: str, owner: str | None = None) -> dict[str, Any]:
    message = owned_message(store, message_id, owner)
    return message_stats(message, store.list_events(message_id))


def get_stats_with_pending(
    store: MessageEvents,
    classifier: Classifier,
    message_id: str,
    pending: Sequence[dict[str, Any]],
    *,
    owner: str | None = None,
    retention: timedelta = DEFAULT_RETENTION,
) -> dict[str, Any]:
    """Stats that count hits answered but not yet processed, classified here and not stored:
    a reader never waits for the pipeline, and is never behind what was served."""
    mine = [p for p in pending if p.get("message_id") == message_id]
    if not mine:
        return get_stats(store, message_id, owner)
    message = owned_message(store, message_id, owner)
    context = store.get_context(message_id)
    stored = store.list_events(message_id)
    if context is None:
        return message_stats(message, stored)
    seen = {e.id for e in stored}
    for payload in mine:
        try:
            hit = Hit.from_dict(payload)
        except (KeyError, TypeError, ValueError):
            continue
        if hit.id in seen:
            continue
        event = classify_hit(hit, context, classifier, retention)
        stored.append(event)
        seen.add(event.id)
        context = replace(context, earlier=(*context.earlier, event)[-CONTEXT_EVENTS:])
    stored.sort(key=lambda e: e.at)
    return message_stats(message, stored)

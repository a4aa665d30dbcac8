"""A message's engagement as `mailbeacon stats`, the export and the add-on show it: the stored
summary (the figures every other view shows), plus the hits the edge answered that the
pipeline has not processed yet, counted by the same functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from .model import DEFAULT_RETENTION, Hit
from .pipeline import Classifier, classify_hit, hindsight
from .rollup import Summary
from .store import MessageFacts
from .summary import Tally, message_stats
from .tracking import owned_message


def get_stats(store: MessageFacts, message_id: str, owner: str | None = None) -> dict[str, Any]:
    message = owned_message(store, message_id, owner)
    # The events first: an event and its message's summary are committed together, so the
    # summary read after the list counts every event in it (read the other way round, a
    # click committed between the two reads was listed but not counted).
    events = store.list_events(message_id)
    summary = store.get_summary(message_id) or Summary()
    return message_stats(message, summary, events)


def get_stats_with_pending(
    store: MessageFacts,
    classifier: Classifier,
    message_id: str,
    pending: Sequence[dict[str, Any]],
    *,
    owner: str | None = None,
    retention: timedelta = DEFAULT_RETENTION,
) -> dict[str, Any]:
    """Stats that count hits answered but not yet processed, classified and relabelled here as
    the pipeline will, and not stored: a reader never waits for the pipeline, and is never
    behind what was served."""
    mine = [p for p in pending if p.get("message_id") == message_id]
    if not mine:
        return get_stats(store, message_id, owner)
    message = owned_message(store, message_id, owner)
    context = store.get_context(message_id)
    stored = store.list_events(message_id)
    tally = Tally(message, store.get_summary(message_id)).know(stored)
    if context is None:
        return message_stats(message, tally.summary, tally.ordered())
    for payload in mine:
        try:
            hit = Hit.from_dict(payload)
        except (KeyError, TypeError, ValueError):
            continue
        if hit.id in tally.events:
            continue
        event = classify_hit(hit, context, classifier, retention, store.owner_strictness)
        event, changes, earlier = hindsight(context.earlier, event)
        tally.add(event, changes)
        context = replace(context, earlier=earlier)
    return message_stats(message, tally.summary, tally.ordered())

"""The pipeline: a hit made durable at the edge, then classified into an event, stored once
and handed to the notifier."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .bus import HITS, NOTIFY, Bus
from .model import (
    DEFAULT_RETENTION,
    Classification,
    Event,
    Hit,
    Message,
    MessageContext,
    Strictness,
    Verdict,
)

if TYPE_CHECKING:  # the edge imports record_hit: the pixel's cold start skips the store's ports
    from .store import PipelineStore

log = logging.getLogger(__name__)


Classifier = Callable[[Hit, MessageContext], Classification]


def record_hit(bus: Bus, hit: Hit) -> None:
    """The edge's one durable write. Raises BusUnavailable; the edge still answers."""
    bus.publish(HITS, hit.to_dict())


def process_hit(
    store: PipelineStore,
    bus: Bus,
    classifier: Classifier,
    payload: dict[str, Any],
    *,
    retention: timedelta = DEFAULT_RETENTION,
    retention_for: Callable[[str], timedelta] | None = None,
    stored: Callable[[Message, Event], None] | None = None,
    live_at: Callable[[], datetime] | None = None,
) -> Event | None:
    """One hit through ``process_hits`` (the cloud's consumer receives them one at a time)."""
    events = process_hits(
        store,
        bus,
        classifier,
        [payload],
        retention=retention,
        retention_for=retention_for,
        stored=stored,
        live_at=live_at,
    )
    return events[0] if events else None


def process_hits(
    store: PipelineStore,
    bus: Bus,
    classifier: Classifier,
    payloads: Sequence[dict[str, Any]],
    *,
    retention: timedelta = DEFAULT_RETENTION,
    retention_for: Callable[[str], timedelta] | None = None,
    stored: Callable[[Message, Event], None] | None = None,
    live_at: Callable[[], datetime] | None = None,
) -> list[Event]:
    """Classify hits and store them as events, once each, however often they are delivered.

    A batch reads each message's context once and extends it with the events it classifies,
    so a burst of opens on one message costs one context read, not one per hit. Each new event
    is looked at with hindsight (``classify.reconcile.relabels``): events of the window it shows
    to be a scanner's are relabelled, in this batch before they are stored, or by the store in
    the same write as the new event (with the summary and day counters). Everything is
    classified before anything is written, so a caller that wraps the batch in a transaction
    holds the write lock only for the writes. Human events are handed to the notifier every
    time (it is idempotent per event and channel), so a crash between storing and handing
    over loses no alert; a relabelled event is handed over once more, so an alert already sent
    for it can be corrected. ``retention_for`` gives the owner's retention (their domain
    policy may shorten the server's). ``stored`` is told of each event once it is stored (the
    live pages are woken). With ``live_at`` (a clock), each new event enters its owner's live
    feed in the store's own write of it (on Firestore, a field of the event's document): the
    feed costs no write of its own.
    """
    contexts: dict[str, MessageContext | None] = {}
    batch: dict[str, Event] = {}  # this batch's new events by id, in order, as last relabelled
    later: dict[str, list[Event]] = {}  # stored events relabelled, by the event that showed it
    messages: dict[str, Message] = {}
    for payload in payloads:
        try:
            hit = Hit.from_dict(payload)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropping a malformed hit: %s", exc)
            continue
        if hit.message_id not in contexts:
            contexts[hit.message_id] = store.get_context(hit.message_id)  # one read on Firestore
        loaded = contexts[hit.message_id]
        if loaded is None:
            log.info("hit for unknown message %s ignored", hit.message_id)
            continue
        owner = loaded.message.owner
        kept = retention_for(owner) if retention_for else retention
        known = next((e for e in loaded.earlier if e.id == hit.id), None)
        event = known or classify_hit(hit, loaded, classifier, kept, store.owner_strictness)
        earlier = [e for e in loaded.earlier if e.id != event.id]
        event, changes, window = hindsight(earlier, event)
        for changed in changes:
            if changed.id in batch:
                batch[changed.id] = changed  # not stored yet: stored as it now is
            else:
                later.setdefault(event.id, []).append(changed)
        contexts[hit.message_id] = replace(loaded, earlier=window)
        messages[event.message_id] = loaded.message
        batch.setdefault(event.id, event)
    events = list(batch.values())
    for event in events:
        message = messages[event.message_id]
        relabelled = later.get(event.id, [])
        at = live_at() if live_at is not None else None
        if store.add_event(event, relabelled, live_at=at) and stored is not None:
            stored(message, event)
        handoff = {"event_id": event.id, "message_id": event.message_id, "owner": message.owner}
        if event.verdict is Verdict.HUMAN:
            bus.publish(NOTIFY, handoff)
        for changed in relabelled:
            bus.publish(NOTIFY, {**handoff, "event_id": changed.id, "relabelled": True})
    return events


def hindsight(
    earlier: Sequence[Event], event: Event
) -> tuple[Event, list[Event], tuple[Event, ...]]:
    """A new ``event`` after the ``earlier`` events of its message's context, looked at with
    hindsight (``classify.reconcile.relabels``): the event as it now reads, the earlier events
    it relabels, and the context's next earlier events (relabelled, the event last, the latest
    CONTEXT_EVENTS)."""
    from .classify.reconcile import relabels  # not on the pixel's cold path
    from .store import CONTEXT_EVENTS

    changes = {e.id: e for e in relabels([*earlier, event], event)}
    event = changes.pop(event.id, event)
    window = [changes.get(e.id, e) for e in earlier] + [event]
    return event, list(changes.values()), tuple(window[-CONTEXT_EVENTS:])


def classify_hit(
    hit: Hit,
    context: MessageContext,
    classifier: Classifier,
    retention: timedelta,
    strictness_of: Callable[[str], Strictness],
) -> Event:
    """The event a hit becomes, given its message's context (nothing is stored)."""
    context = replace(context, earlier=tuple(e for e in context.earlier if e.id != hit.id))
    verdict = judge(hit, context, classifier, strictness_of)
    return Event(
        id=hit.id,
        message_id=context.message.id,
        kind=hit.kind,
        at=hit.at,
        verdict=verdict.verdict,
        reasons=verdict.reasons,
        client=verdict.client,
        link_index=hit.link_index,
        url=hit.url,
        ip_hash=hit.ip_hash,
        network=hit.network,
        user_agent=hit.user_agent[:512],
        expires_at=hit.at + retention,
    )


def judge(
    hit: Hit,
    context: MessageContext,
    classifier: Classifier,
    strictness_of: Callable[[str], Strictness],
) -> Classification:
    """The hit's classification at its owner's strictness, read only when it decides.

    Most hits (past the first hour after sending, away from other hits) are judged the same
    at every level: classifying three times costs microseconds, while the owner's settings
    are a Firestore document read, cached only as long as an instance lives, and a function
    that scales to zero would read them again for nearly every quiet owner's hit."""
    if context.strictness is not None:
        return classifier(hit, context)
    levels = list(Strictness)
    at_each = [classifier(hit, replace(context, strictness=level)) for level in levels]
    if all(c == at_each[0] for c in at_each[1:]):
        return at_each[0]
    return at_each[levels.index(strictness_of(context.message.owner))]

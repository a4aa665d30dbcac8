"""Hindsight at read time: evidence that only appears after a hit was classified.

A scanner walking a message fetches the pixel and every link within seconds. The classifier
catches the second link (it sees the first in the context), but the first click and the pixel
fetch were already stored as they looked then. Reading a message's events, the whole walk is
shown as the scanner it was. Stored events are left as they are (label, never rewrite);
notifications already sent for the first hit are not taken back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..model import Event, Verdict

BURST_SECONDS = 5.0  # warmbly TrackingClickBurstSeconds


def _walk_members(events: Sequence[Event], window: float) -> set[str]:
    """Ids of events that belong to a same-source walk over two or more different links."""
    members: set[str] = set()
    by_source: dict[str, list[Event]] = {}
    for event in events:
        if event.ip_hash:
            by_source.setdefault(event.ip_hash, []).append(event)
    for source_events in by_source.values():
        clicks = [e for e in source_events if e.kind == "click"]
        for i, first in enumerate(clicks):
            for second in clicks[i + 1 :]:
                gap = abs((second.at - first.at).total_seconds())
                if gap <= window and second.link_index != first.link_index:
                    members.update((first.id, second.id))
        if not members:
            continue
        walk_times = [e.at for e in clicks if e.id in members]
        for e in source_events:
            if e.kind == "open" and any(
                abs((e.at - at).total_seconds()) <= window for at in walk_times
            ):
                members.add(e.id)
    return members


def reconcile(events: Sequence[Event], window: float = BURST_SECONDS) -> list[Event]:
    """The events as they should be read: human members of a link walk become scanners."""
    members = _walk_members(events, window)
    return [
        replace(e, verdict=Verdict.SCANNER, reasons=(*e.reasons, "link-burst"))
        if e.id in members and e.verdict is Verdict.HUMAN
        else e
        for e in events
    ]

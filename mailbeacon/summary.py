"""A message as `stats`, the add-on, the export and the API show it: the stored summary (the one
derivation of its counts, ``rollup``) with its events; and the same fold in memory for what a
store has not counted yet (hits still waiting for the pipeline) or never will (a corpus)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import words
from .clock import iso
from .daycounts import DayCounts, merge_days
from .model import Event, Message
from .rollup import Summary, apply_event, relabel_stored


def message_stats(message: Message, summary: Summary, events: Sequence[Event]) -> dict[str, Any]:
    """The stats contract of DESIGN.md, plus a few extra fields (recipients, links, times)."""
    clicks = dict(summary.link_clicks)
    return {
        "message_id": message.id,
        "subject": message.subject,
        **summary.public(),
        "owner": message.owner,
        "recipients": list(message.recipients),
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
        "links": [
            {"index": link.index, "url": link.url, "human_clicks": clicks.get(link.index, 0)}
            for link in message.links
        ],
        "events": [
            {
                **event.to_public(),
                "client_name": (
                    "" if event.kind == "reply" else words.client(event.client, event.user_agent)
                ),
            }
            for event in events
        ],
    }


class Tally:
    """A summary folded in memory with the same functions the stores use, over events in
    time order (and the relabellings hindsight asks for)."""

    def __init__(self, message: Message, summary: Summary | None = None) -> None:
        self.message = message
        self.summary = summary or Summary()
        self.events: dict[str, Event] = {}
        self.devices: dict[str, int] = {}  # human opens per device
        self.days: DayCounts = {}  # what the folded events moved in the day counters

    def _keep(self, event: Event, n: int) -> None:
        if event.is_human and event.kind == "open":
            self.devices[event.device] = self.devices.get(event.device, 0) + n

    def know(self, events: Iterable[Event]) -> Tally:
        """Events already counted in the starting summary (stored ones)."""
        for event in events:
            self.events[event.id] = event
            self._keep(event, 1)
        return self

    def add(self, event: Event, relabel: Sequence[Event] = ()) -> None:
        if event.id not in self.events:
            new_device = event.is_human and event.kind == "open"
            new_device = new_device and not self.devices.get(event.device)
            self.summary, moved = apply_event(
                self.message, self.summary, event, new_device=new_device
            )
            merge_days(self.days, moved)
            self.events[event.id] = event
            self._keep(event, 1)
        for changed in relabel:
            old = self.events.get(changed.id)
            if old is None:
                continue
            gone = old.kind == "open" and self.devices.get(old.device, 0) <= 1  # fast path
            relabelled = relabel_stored(
                self.message, self.summary, old, changed, self.events.values(), device_gone=gone
            )
            if relabelled is None:
                continue
            self.summary, moved, _ = relabelled
            merge_days(self.days, moved)
            self._keep(old, -1)
            self.events[old.id] = changed

    def ordered(self) -> list[Event]:
        return sorted(self.events.values(), key=lambda e: (e.at, e.id))


def summarize(message: Message, events: Iterable[Event]) -> Summary:
    """The summary of ``events`` (as stored: verdicts final), folded from nothing."""
    tally = Tally(message)
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        tally.add(event)
    return tally.summary


def contribution(message: Message, events: Iterable[Event]) -> DayCounts:
    """Everything a message and its stored events added to its owner's day counters (what
    deleting it takes out): a replay, as the counters were moved by the same functions."""
    from .daycounts import message_added

    tally = Tally(message)
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        tally.add(event)
    return merge_days(message_added(message), tally.days)

"""Hindsight: evidence that only appears after a hit was classified.

A scanner walking a message fetches the pixel and every link within seconds. The classifier
catches the second link (it sees the first in the context), but the first click and the pixel
fetch were classified as they looked then. As each hit is processed, the pipeline asks
``relabels`` which events of the message's recent window the new one shows to be the scanner
they were, and the store relabels them, with the summary and the day counters, in the same
write (so every view shows the same figures). The same hindsight finishes the two
multi-source patterns of `pairing`: the earlier members of a burst from three or more
addresses, and the machine half of a pair of clicks on one link seconds apart (when the live
rule kept the later click as the person). Alerts wait a settle window for this (notifier),
and an alert already sent for a relabelled event is corrected where the channel allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from ..model import Event, Strictness, Verdict
from .pairing import Side, distinct, machine_of
from .policy import POLICIES
from .rules import MULTI_SOURCE_BURST, ROTATING_AGENTS, counts_for_burst
from .useragent import inspect

BALANCED = POLICIES[Strictness.BALANCED]  # hindsight judges with the balanced windows
BURST_SECONDS = BALANCED.burst_window  # warmbly TrackingClickBurstSeconds
PAIR_SECONDS = BALANCED.pair_window
ROTATION_SECONDS = BALANCED.rotation_window
MULTI_SOURCE_SECONDS = BALANCED.multi_source_window
MULTI_SOURCE = MULTI_SOURCE_BURST
SPAN = timedelta(seconds=60)
"""Every pattern above spans at most MULTI_SOURCE_SECONDS: events further from a new hit than
this cannot be relabelled because of it."""


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


def _side(event: Event, events: Sequence[Event]) -> Side:
    opened = any(
        e.kind == "open" and e.verdict is Verdict.HUMAN and e.ip_hash == event.ip_hash
        for e in events
        if e.at <= event.at
    )
    tags = tuple(r.removeprefix("network:") for r in event.reasons if r.startswith("network:"))
    accept_any = "accept-any" in event.reasons
    at = event.at.timestamp()
    return Side(at, event.user_agent, event.ip_hash, event.network, tags, opened, accept_any)


def _multi_source_members(clicks: Sequence[Event], window: float) -> set[str]:
    """Ids of human clicks inside a window holding clicks from three or more networks that
    were human or judged machine only for their timing (rules.counts_for_burst: a known
    scanner's click is no evidence about the others; the checker half of a pair is)."""
    members: set[str] = set()
    evidence = [e for e in clicks if counts_for_burst(e)]
    for first in evidence:
        group = [e for e in evidence if 0 <= (e.at - first.at).total_seconds() <= window]
        if len({e.network for e in group}) >= MULTI_SOURCE:
            members.update(e.id for e in group if e.verdict is Verdict.HUMAN)
    return members


def _paired_machines(clicks: Sequence[Event], events: Sequence[Event], window: float) -> set[str]:
    """Ids of the machine halves of same-link click pairs from two different clients."""
    machines: set[str] = set()
    humans = [e for e in clicks if e.verdict is Verdict.HUMAN]
    for i, a in enumerate(humans):
        for b in humans[i + 1 :]:
            if a.link_index != b.link_index or abs((b.at - a.at).total_seconds()) > window:
                continue
            sa, sb = _side(a, events), _side(b, events)
            if distinct(sa, sb):
                machines.add(a.id if machine_of(sa, sb) is sa else b.id)
    return machines


def _rotation_members(events: Sequence[Event], window: float) -> set[str]:
    """Ids of human hits from one network inside a window holding three or more distinct
    browser user agents there (the live rule labels the third; these are the first two)."""
    members: set[str] = set()
    by_network: dict[str, list[Event]] = {}
    for e in events:
        if e.network and e.kind in ("open", "click") and inspect(e.user_agent).kind == "browser":
            by_network.setdefault(e.network, []).append(e)
    for group in by_network.values():
        group.sort(key=lambda e: e.at)
        for first in group:
            near = [e for e in group if 0 <= (e.at - first.at).total_seconds() <= window]
            if len({e.user_agent for e in near}) >= ROTATING_AGENTS:
                members.update(e.id for e in near if e.verdict is Verdict.HUMAN)
    return members


def reconcile(
    events: Sequence[Event],
    window: float = BURST_SECONDS,
    pair_window: float = PAIR_SECONDS,
    *,
    history: Sequence[Event] | None = None,
) -> list[Event]:
    """The events as they should be read: human members of a link walk, of a multi-address
    burst, of a user-agent rotation on one network, and the machine half of a click pair
    become scanners. ``history`` (default: the events) is what a click pair's sides are judged
    against (an earlier human open from the same source)."""
    relabel: dict[str, str] = dict.fromkeys(_walk_members(events, window), "link-burst")
    clicks = sorted((e for e in events if e.kind == "click"), key=lambda e: e.at)
    for member in _multi_source_members(clicks, MULTI_SOURCE_SECONDS):
        relabel.setdefault(member, "multi-source-burst")
    for member in _rotation_members(events, ROTATION_SECONDS):
        relabel.setdefault(member, "agent-rotation")
    for machine in _paired_machines(clicks, history or events, pair_window):
        relabel.setdefault(machine, "paired-click")
    return [
        replace(e, verdict=Verdict.SCANNER, reasons=(*e.reasons, relabel[e.id]))
        if e.id in relabel and e.verdict is Verdict.HUMAN
        else e
        for e in events
    ]


def relabels(window: Sequence[Event], around: Event) -> list[Event]:
    """The events of ``window`` (a message's recent events, ``around`` among them) that
    hindsight relabels, as they should now be stored; only events near ``around`` in time are
    looked at, so a busy message costs what a quiet one does."""
    near = [e for e in window if abs(e.at - around.at) <= SPAN]
    after = reconcile(near, history=window)
    return [new for new, old in zip(after, near, strict=True) if new is not old]

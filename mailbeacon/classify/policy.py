"""Timing windows per strictness: how eagerly timing and probable-scanner rules say "machine".

Balanced is warmbly's defaults (open 60 s, click 30 s, probable-scanner networks 600 s, link
burst 5 s; tracking config constants), which it measured from dispatch after 10 s "routinely
expired before the scan it was meant to catch". GMass also treats opens under a minute as
likely false [G1]. Lenient halves them (fewer real fast readers lost); strict doubles the
short ones, stretches the probable window to an hour and lets two weak hints together decide.

Two windows are new in round 2 (issue #16). ``sent_copy_window``: Gmail's image proxy fetching
3-5 s after the send, before anyone could have opened it, is the sender's own Sent view or a
delivery-time fetch (gophish #1248, #1390). ``pair_window``: a time-of-click scanner fetches the
link seconds before or after the person (karaoke-gen PR #870: 82 ms; emdash #3298).
``multi_source_window``: clicks from three networks within it are a scanner fleet
(IntellectITBotFilterBundle's defaults: 3 distinct addresses within 30 s).

Round 3 (issue #22): ``pair_window`` grows to 15 s (resend-node #901: the scan came 12 s after
the person's click), and ``rotation_window``: three or more distinct browser user agents from
one network on one email within it are one machine rotating its user agent (gophish #2357:
"clicks" from old Chrome builds nobody had installed, the same email "opened" again from a
Windows 8 Chrome; MillionSend PR #22: gateway fleets fetching every link within milliseconds
"with a browser's name on"; CIDRAM #600: one address, hundreds of hits, a different browser
each time).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Strictness


@dataclass(frozen=True)
class Policy:
    """Seconds after sending during which a rule may call a hit machine."""

    open_window: float
    click_window: float
    probable_window: float
    burst_window: float
    sent_copy_window: float = 6.0
    pair_window: float = 15.0
    multi_source_window: float = 30.0
    rotation_window: float = 10.0
    self_view_window: float = 120.0
    # strict only: a click with no earlier open from its source that also asks for Accept */*
    # (no browser navigates like that) is a scanner inside the probable window.
    weak_hints_decide: bool = False


POLICIES: dict[Strictness, Policy] = {
    Strictness.LENIENT: Policy(
        30,
        15,
        120,
        3,
        sent_copy_window=4,
        pair_window=8,
        multi_source_window=10,
        rotation_window=5,
    ),
    Strictness.BALANCED: Policy(60, 30, 600, 5),
    Strictness.STRICT: Policy(
        120,
        60,
        3600,
        10,
        sent_copy_window=10,
        pair_window=30,
        multi_source_window=60,
        rotation_window=20,
        weak_hints_decide=True,
    ),
}


def policy_for(strictness: Strictness | str) -> Policy:
    """The policy for a strictness; an unknown value gets the balanced one."""
    try:
        return POLICIES[Strictness(strictness)]
    except ValueError:
        return POLICIES[Strictness.BALANCED]

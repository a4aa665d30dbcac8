"""Timing windows per strictness: how eagerly timing and probable-scanner rules say "machine".

Balanced is warmbly's defaults (open 60 s, click 30 s, probable-scanner networks 600 s, link
burst 5 s; tracking config constants), which it measured from dispatch after 10 s "routinely
expired before the scan it was meant to catch". GMass also treats opens under a minute as
likely false [G1]. Lenient halves them (fewer real fast readers lost); strict doubles the
short ones, stretches the probable window to an hour and lets two weak hints decide.
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
    self_view_window: float = 120.0
    # strict only: a click with no earlier open from its source, or an image fetch with
    # Accept */* and no Referer, is a scanner inside the probable window.
    weak_hints_decide: bool = False


POLICIES: dict[Strictness, Policy] = {
    Strictness.LENIENT: Policy(30, 15, 120, 3),
    Strictness.BALANCED: Policy(60, 30, 600, 5),
    Strictness.STRICT: Policy(120, 60, 3600, 10, weak_hints_decide=True),
}


def policy_for(strictness: Strictness | str) -> Policy:
    """The policy for a strictness; an unknown value gets the balanced one."""
    try:
        return POLICIES[Strictness(strictness)]
    except ValueError:
        return POLICIES[Strictness.BALANCED]

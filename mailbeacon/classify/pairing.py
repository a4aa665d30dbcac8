"""Which of two hits is the machine: shared by the live rules and the read-time hindsight.

Two patterns need more than one source to see. A time-of-click scanner fetches a link seconds
before (or after) the person who clicked it, from another network and usually another operating
system (karaoke-gen PR #870: Google 2607:f8b0::/32 Chrome/149 beat the person's Chrome/148 by
82 ms; emdash #3298: Microsoft AS8075 headless Chrome). And scanner fleets click from several
datacenter addresses at once (IntellectITBotFilterBundle filters three addresses within 5 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalogs import source as catalog
from .useragent import inspect

# Desktop Linux is where headless scanners run; a person on it is rare among mail readers.
_SERVER_OS = frozenset({"Linux", "Ubuntu", "Other"})


@dataclass(frozen=True)
class Side:
    """One click of a pair, as far as the pair logic needs to know it."""

    at: float  # seconds, any common origin
    user_agent: str
    source: str  # keyed address hash
    network: str  # coarse prefix
    tags: tuple[str, ...]  # catalogue names
    opened_as_human: bool  # its source fetched the pixel as a person before
    accept_any: bool = False  # asked for Accept */* or nothing: no browser navigates so


def machine_score(side: Side) -> int:
    """Evidence that this side is the machine: catalogued machine networks, a server OS, a
    non-navigation Accept header, and against it, an earlier human pixel fetch from the same
    source."""
    score = 0
    for name in side.tags:
        known = catalog(name)
        if known is not None and known.role in ("scanner", "crawler"):
            score += 2
            break
    if inspect(side.user_agent).os in _SERVER_OS:
        score += 1
    if side.accept_any:
        score += 1
    if side.opened_as_human:
        score -= 2
    return score


def distinct(a: Side, b: Side) -> bool:
    """Two different clients: another source, and another network or operating system."""
    if not a.source or not b.source or a.source == b.source:
        return False
    return a.network != b.network or inspect(a.user_agent).os != inspect(b.user_agent).os


def machine_of(a: Side, b: Side) -> Side:
    """The machine of a pair: more machine evidence, else the later one.

    A scanner that checks a link before letting the person through runs on its vendor's
    network (Microsoft's, Google's: catalogued, so its score decides, karaoke-gen PR #870). With
    no such evidence on either side, the public case is a scan that follows the person's click
    from another network: resend-node #901, a Mac Chrome click from a residential IPv6 address
    and, 12 s later, the same link from a Windows Chrome on an unrelated IPv4 network."""
    sa, sb = machine_score(a), machine_score(b)
    if sa != sb:
        return a if sa > sb else b
    return b if a.at <= b.at else a

"""What the edge uses of a running Mailbeacon, and nothing more.

The edge is handed these narrow views rather than the whole ``App``, so what it may touch is
visible in one place (and the composition root can change without the edge noticing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailbeacon.bus import Bus
from mailbeacon.clock import Clock
from mailbeacon.health import Health
from mailbeacon.hits import NetworkTagger
from mailbeacon.records import Records
from mailbeacon.tokens import TokenSigner


class TrackingParts(Protocol):
    """The pixel's and the click's needs: verify, reduce the request, record, report."""

    @property
    def signer(self) -> TokenSigner: ...
    @property
    def ip_key(self) -> bytes: ...
    @property
    def trust_proxy(self) -> int: ...
    @property
    def tagger(self) -> NetworkTagger: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def bus(self) -> Bus: ...
    @property
    def health(self) -> Health: ...


class StreamParts(Protocol):
    """A live stream's needs: who is signed in, the live feed's records, the time."""

    @property
    def records(self) -> Records: ...
    @property
    def clock(self) -> Clock: ...
    def signed_in(self, cookie: str | None) -> str | None:
        """The user of a dashboard session cookie, or None (blocking: a store read)."""
        ...


@dataclass(frozen=True)
class Tracking:
    """``TrackingParts`` as plain values (the composition root's ``App.tracking``)."""

    signer: TokenSigner
    ip_key: bytes
    trust_proxy: int
    tagger: NetworkTagger
    clock: Clock
    bus: Bus
    health: Health


@dataclass(frozen=True)
class Streams:
    """``StreamParts`` as plain values."""

    records: Records
    clock: Clock
    session_user: Callable[[str | None], str | None]

    def signed_in(self, cookie: str | None) -> str | None:
        return self.session_user(cookie)

"""Keep-alive connections spread evenly over the edge processes that share the port.

The kernel hands each new connection to one of the processes listening on the port by a
hash of its addresses (SO_REUSEPORT), so 64 connections split 36/28 about as often as
32/32, and a client keeps its connection: the process with more answers each of its
requests later for as long as they last (bench/pixel.py at 64 connections: p99/p50 2.2 at
33/31, 2.8-3.4 at 36/28). nginx's ``reuseport`` has the same skew.

Here each process publishes how many connections it holds in its slot of a small file
(``os.pwrite`` as one opens or closes, no more often), and reads the others' through a
read-only mapping. A process holding at least two more than the least loaded other one
answers its next pixel or click with ``Connection: close``: the client connects again, and
the kernel places the new connection by a new hash. It does so at most once per
``INTERVAL``, so the counts it reads next have seen the client come back. A slot the
server marks down (its process exited) counts for nobody; until its process answers again
the others never shed towards it.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

from mailbeacon.files import replace_private

INTERVAL = 0.025
"""Seconds between two connections shed by one process (a client on loopback is back
within a millisecond; one behind a proxy within a round trip)."""
DOWN = -1
_SLOT = struct.Struct("<i")


class ConnectionShares:
    """This process's connection count and every other edge process's, in one file."""

    def __init__(self, path: Path, slot: int, slots: int | None = None) -> None:
        """The file with ``slots`` (the server, before it starts the other processes: every
        slot down but its own), or the file at ``path`` (each other process, once it listens:
        its slot says 0 from here on). Raises OSError."""
        if slots:
            replace_private(path, _SLOT.pack(DOWN) * slots)
        self._fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(self._fd).st_size
            self._counts = struct.Struct(f"<{size // _SLOT.size}i")
            self._map = mmap.mmap(self._fd, size, prot=mmap.PROT_READ)
        except BaseException:
            os.close(self._fd)
            raise
        self.slot = slot
        self._at = slot * _SLOT.size
        self.held = 0
        self._next = 0.0
        self._stale = False  # a count could not be published: the others see an older one
        self._publish()

    def opened(self) -> None:
        self.held += 1
        self._publish()

    def closed(self) -> None:
        self.held -= 1
        self._publish()

    def _publish(self, count: int | None = None) -> None:
        try:
            os.pwrite(self._fd, _SLOT.pack(self.held if count is None else count), self._at)
        except OSError:  # a data dir gone read-only: counts that no longer move
            self._stale = True

    def shed(self, now: float) -> bool:
        """Whether to close the connection just answered (``now``: the loop's clock)."""
        if now < self._next or self._stale:
            return False
        self._next = now + INTERVAL
        counts = self._counts.unpack_from(self._map, 0)
        others = [n for i, n in enumerate(counts) if i != self.slot and n != DOWN]
        if not others or self.held < min(others) + 2:
            return False
        self.held -= 1  # counted gone now: the close itself is a loop turn away
        self._publish()
        return True

    def counts(self) -> list[int]:
        """Each slot's connections (``DOWN`` for a process that is not answering)."""
        return list(self._counts.unpack_from(self._map, 0))

    def close(self) -> None:
        """This process no longer answers: nobody sheds towards it."""
        self._publish(DOWN)
        self._map.close()
        os.close(self._fd)


def mark_down(path: Path, slot: int) -> None:
    """The server saw the process of ``slot`` exit: nobody sheds towards it. Raises OSError."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.pwrite(fd, _SLOT.pack(DOWN), slot * _SLOT.size)
    finally:
        os.close(fd)

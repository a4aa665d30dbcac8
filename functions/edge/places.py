"""Limits that hold across the edge's processes: each place taken is a lock on one byte.

`mailbeacon serve` runs an edge process per CPU on one port, and a caller's connections land
on any of them: a limit counted in one process's memory would give a caller as many places
as there are processes. Here a place is one byte of a lock file, locked (``fcntl`` record
lock) by the process that holds it. The kernel arbitrates between processes and releases a
dead process's locks, so a crash never leaks a place; nothing is written (locks may lie past
the end of a file), so a full disk changes nothing. Record locks belong to a process, not a
thread or a request, so the places this process holds are also kept in a set: a second
request here never "takes" a byte its own process already holds.

Taking and giving happen on the event loop's thread only (exports and live streams are
admitted there): no lock of ours is needed around the set.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

EXPORTS = 0
"""Region: expensive calls running per caller."""
STREAMS_PER_USER = 1
"""Region: live streams open per user."""
STREAMS = 2
"""Region: live streams open in total (one key)."""

_REGION_SHIFT = 52  # a key's places start at region << 52 + hash(key) * limit
_BUSY = (errno.EACCES, errno.EAGAIN)


class Places:
    """Bounded places per key, shared by every process that opens the same file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        self._held: set[int] = set()

    def take(self, region: int, key: str, limit: int) -> int | None:
        """A place among ``key``'s ``limit`` (its byte offset), or None when all are held."""
        digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
        first = (region << _REGION_SHIFT) + int.from_bytes(digest, "big") * limit
        for place in range(first, first + limit):
            if place in self._held:
                continue
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, place)
            except OSError as exc:
                if exc.errno in _BUSY:
                    continue
                raise
            self._held.add(place)
            return place
        return None

    def give(self, place: int) -> None:
        if place in self._held:
            self._held.discard(place)
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, place)

    def held(self) -> int:
        """Places this process holds."""
        return len(self._held)

    def close(self) -> None:
        """Every place this process holds is given back (closing the file releases them)."""
        self._held.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

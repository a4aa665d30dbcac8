"""A count of bytes held at once, bounded: what the edge holds for clients that are slow.

Two uses, each one per edge process: request bodies being read (they are read before a pool
place is taken, so no pool bounds how many), and long answers written aside until their
clients have read them. Taken and given from the loop and from pool threads alike.
"""

from __future__ import annotations

import threading


class Budget:
    """``limit`` bytes; ``take`` says whether ``size`` more fit (and takes them)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size

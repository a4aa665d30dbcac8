"""Day counters parsed once per stored text, for the overview.

A year's overview reads about 366 rows of day counters, some 90,000 counters in 1.5 MB of
JSON; parsing them was half of what the page cost. A past day's row rarely changes, so each
process keeps the parsed counters of the rows it read last, keyed by owner and day and used
only while the stored text is still exactly the one they were parsed from: a changed day (an
event, a relabelling, a purge) is parsed again, a deleted one is never read. Callers get
copies, so nothing they do reaches the kept ones.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

SIZE = 4096
"""Rows kept per process (about 11 years of one user's days; some 30 KB each)."""


class ParsedDays:
    """A bounded, thread-safe memo of ``json.loads`` for day-counter rows."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str], tuple[str, dict[str, int]]] = OrderedDict()

    def parse(self, owner: str, day: str, text: str) -> dict[str, int]:
        key = (owner, day)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == text:
                self._kept.move_to_end(key)
                return dict(kept[1])
        counts: dict[str, int] = json.loads(text)
        with self._lock:
            self._kept[key] = (text, counts)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return dict(counts)

"""One limiter for log lines, by kind: a flood of requests must not become a flood of lines.

Every refused token, unsigned Slack call or bad add-on event is worth a line to an operator,
but 2,000 of them in 12 seconds (what unauthenticated calls wrote before this) drown
everything else and fill the disk. A kind is the line's call site (logger, file and line), so
a message built with an f-string counts as one kind too. Each kind may write ``burst`` lines
per ``window`` seconds; the first line after a window that dropped some says how many.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

BURST = 5
WINDOW = 10.0
MAX_KINDS = 4096
"""Call sites are few; the table is cleared if something makes it grow anyway."""


class LogLimiter(logging.Filter):
    """A handler filter: at most ``burst`` records per kind per ``window`` seconds."""

    def __init__(
        self,
        burst: int = BURST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._kinds: dict[tuple[str, str, int], list[float]] = {}  # [window start, lines, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.pathname, record.lineno)
        now = self.clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is None or now - seen[0] >= self.window:
                dropped = int(seen[2]) if seen is not None else 0
                if len(self._kinds) >= MAX_KINDS:
                    self._kinds.clear()
                self._kinds[kind] = [now, 1, 0]
                if dropped:
                    record.msg = f"{record.getMessage()} ({dropped} more like this not logged)"
                    record.args = ()
                return True
            if seen[1] < self.burst:
                seen[1] += 1
                return True
            seen[2] += 1
            return False


def install_log_limits(limiter: LogLimiter | None = None) -> LogLimiter:
    """Put one limiter on every handler of the root logger (after logging is configured)."""
    limiter = limiter or LogLimiter()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LogLimiter) for f in handler.filters):
            handler.addFilter(limiter)
    return limiter

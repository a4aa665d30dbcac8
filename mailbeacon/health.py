"""Whether the edge is recording hits. The pixel never fails for the recipient, so failures
surface here (and in error logs) instead."""

from __future__ import annotations

import threading
import time
from typing import Any


class Health:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_failure: tuple[float, str] | None = None
        self._last_success = 0.0

    def recorded(self) -> None:
        self._last_success = time.time()

    def failed(self, reason: str) -> None:
        with self._lock:
            self._last_failure = (time.time(), reason)

    def report(self) -> dict[str, Any]:
        failure = self._last_failure
        if failure and failure[0] >= self._last_success:
            return {"status": "degraded", "reason": failure[1]}
        return {"status": "ok"}

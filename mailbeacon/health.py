"""Whether the edge is recording hits. The pixel never fails for the recipient, so failures
surface here (and in error logs) instead."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from .clock import Clock, SystemClock


class Health:
    """The last failure wins until a later success: `/healthz` answers from it."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._last_failure: tuple[datetime, str] | None = None
        self._last_success: datetime | None = None

    def recorded(self) -> None:
        self._last_success = self.clock.now()

    def failed(self, reason: str) -> None:
        with self._lock:
            self._last_failure = (self.clock.now(), reason)

    def report(self) -> dict[str, Any]:
        failure, success = self._last_failure, self._last_success
        if failure and (success is None or failure[0] >= success):
            return {"status": "degraded", "reason": failure[1]}
        return {"status": "ok"}

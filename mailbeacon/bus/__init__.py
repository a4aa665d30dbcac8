"""The Bus port: a hit made durable here is never lost, and is delivered at least once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

HITS = "hits"
NOTIFY = "notify"
DIGEST = "digest"

Handler = Callable[[dict[str, Any]], None]
"""A consumer. Raising asks for redelivery (RetryLater names when); returning acknowledges."""


class Bus(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Make ``payload`` durable on ``topic`` or raise BusUnavailable."""

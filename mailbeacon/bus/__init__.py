"""The Bus port: a hit made durable here is never lost, and is delivered at least once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

HITS = "hits"
NOTIFY = "notify"
DIGEST = "digest"

Handler = Callable[[dict[str, Any]], None]
"""A consumer. Raising asks for redelivery (RetryLater names when); returning acknowledges."""

BatchHandler = Callable[[list[dict[str, Any]]], None]
"""A consumer of several messages at once (one transaction for all); raising redelivers all."""


class Bus(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Make ``payload`` durable on ``topic`` or raise BusUnavailable."""


@runtime_checkable
class Subscriber(Protocol):
    """A bus whose consumers are named in this process (Pub/Sub: each topic's function)."""

    def subscribe(self, topic: str, handler: Handler) -> None: ...


@runtime_checkable
class Worker(Protocol):
    """A bus that delivers in this process: the local and memory buses (Pub/Sub pushes)."""

    def subscribe(self, topic: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """Deliver ``topic`` to ``handler``; with ``batch``, several messages at a time."""

    def drain(self, topics: Iterable[str] | None = None) -> int:
        """Deliver everything ready now, in the calling thread; returns how many."""

    def pending_hits(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Hits published and not yet processed, oldest first, optionally of one message
        (for readers that must not wait for the worker)."""

    def start(self) -> None:
        """Deliver in the background from now on."""

    def stop(self) -> None:
        """Stop background delivery (what is not acknowledged stays for the next worker)."""

"""The Bus port: a hit made durable here is never lost, and is delivered at least once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

HITS = "hits"
NOTIFY = "notify"
DIGEST = "digest"
TOPICS = (HITS, NOTIFY, DIGEST)
DEFAULT_TOPIC_PREFIX = "mailbeacon-"
"""Cloud topic ids are the prefix plus the topic (Pub/Sub ids need at least three characters)."""


DEAD = "-dead"
"""A topic's dead-letter topic is its id plus this."""
KEPT = "-kept"
"""A dead-letter topic's own pull subscription is its id plus this: Pub/Sub discards what a
topic without subscriptions receives ("messages published to a topic with no subscriptions
are lost", DeadLetterPolicy in the Pub/Sub API reference), so without it there would be
nothing to list or replay (`mailbeacon deadletters`)."""


def topic_ids(prefix: str = DEFAULT_TOPIC_PREFIX) -> dict[str, str]:
    """Our topics as cloud topic ids: one naming rule for the bus and the deploy plan."""
    return {topic: f"{prefix}{topic}" for topic in TOPICS}


def dead_ids(prefix: str = DEFAULT_TOPIC_PREFIX) -> dict[str, str]:
    """Each topic's dead-letter topic id (``mailbeacon-hits-dead``...)."""
    return {topic: f"{prefix}{topic}{DEAD}" for topic in TOPICS}


def kept_ids(prefix: str = DEFAULT_TOPIC_PREFIX) -> dict[str, str]:
    """Each topic's dead-letter subscription id (``mailbeacon-hits-dead-kept``...)."""
    return {topic: f"{dead}{KEPT}" for topic, dead in dead_ids(prefix).items()}


Handler = Callable[[dict[str, Any]], None]
"""A consumer. Raising asks for redelivery (RetryLater names when); returning acknowledges."""

BatchHandler = Callable[[list[dict[str, Any]]], None]
"""A consumer of several messages at once (one transaction for all); raising redelivers all."""


class Bus(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Make ``payload`` durable on ``topic`` or raise BusUnavailable."""


class Worker(Protocol):
    """The consuming side: runs the handler subscribed to each topic, at least once per payload.

    Locally the local bus's worker (in `mailbeacon serve`'s worker process); in the cloud,
    Pub/Sub push into the entry points (or a pull worker in cluster mode). The local
    and memory buses implement it, so callers never probe a bus with ``getattr``.
    """

    def subscribe(self, topic: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """Deliver ``topic`` to ``handler``; with ``batch``, several payloads at a time (a
        worker that delivers one at a time may ignore it)."""

    def drain(self, topics: Iterable[str] | None = None, *, include_leased: bool = False) -> int:
        """Run every ready payload of ``topics`` now, in this thread; returns how many."""

    def pending_hits(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Hits published and not yet processed, oldest first, optionally of one message:
        for readers that must not wait for the worker (empty where it cannot be known)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

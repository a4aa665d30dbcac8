"""A Bus that keeps what was published in a list: the fake service tests run on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import BusUnavailable
from . import HITS, BatchHandler, Handler


class MemoryBus:
    """Publishes into ``published``; as a Worker, ``drain`` delivers what is new, in order."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.broken = False
        self.handlers: dict[str, Handler] = {}
        self.batch_handlers: dict[str, BatchHandler] = {}
        self._delivered = 0

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.broken:
            raise BusUnavailable("memory bus marked broken")
        self.published.append((topic, payload))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload in self.published if t == topic]

    def subscribe(self, topic: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        self.handlers[topic] = handler
        if batch is not None:
            self.batch_handlers[topic] = batch

    def drain(self, topics: Iterable[str] | None = None) -> int:
        """Deliver everything published since the last drain (and what that publishes).

        Messages of topics not chosen are skipped for good, as a consumer that is not
        listening would miss them.
        """
        chosen = set(self.handlers if topics is None else topics)
        handled = 0
        while self._delivered < len(self.published):
            todo = self.published[self._delivered :]
            self._delivered = len(self.published)
            for topic, payload in todo:
                if topic not in chosen:
                    continue
                many = self.batch_handlers.get(topic)
                if many is not None:
                    many([payload])
                elif topic in self.handlers:
                    self.handlers[topic](payload)
                handled += 1
        return handled

    def pending_hits(self, message_id: str | None = None) -> list[dict[str, Any]]:
        return [
            p
            for t, p in self.published[self._delivered :]
            if t == HITS and message_id in (None, p.get("message_id"))
        ]

    def start(self) -> None:
        """Nothing runs in the background: tests call ``drain``."""

    def stop(self) -> None:
        """Nothing to stop."""

"""A Bus that keeps what was published in a list: the fake service tests run on."""

from __future__ import annotations

from typing import Any

from ..errors import BusUnavailable


class MemoryBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.broken = False

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.broken:
            raise BusUnavailable("memory bus marked broken")
        self.published.append((topic, payload))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload in self.published if t == topic]

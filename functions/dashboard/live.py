"""Live dashboard pages: Server-Sent Events from `mailbeacon serve`, short polls elsewhere.

The feed itself is ``mailbeacon.live`` (records, so every process sees it). Here is only how
a page is told: a stream (``text/event-stream``, each event's ``id:`` being its cursor, so a
browser's automatic reconnect resumes with Last-Event-ID) when this process runs the worker,
or one JSON answer per short poll where a Cloud Function cannot hold a connection open.

`mailbeacon serve` answers the stream on its event loop (functions/edge/streams.py, which
uses ``sse`` from here); the Flask view below it is what any other WSGI host would run, each
stream on a thread, so those are bounded (``LiveHub``) and end after ``STREAM_SECONDS``. A page
refused a stream (503) falls back to polling.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from mailbeacon import live, words
from mailbeacon.records import Records

STREAM_SECONDS = 25.0
RECHECK_SECONDS = 1.0  # events processed by another process (the CLI) are seen this late
POLL_SECONDS = 5  # what a page polling instead of streaming waits between requests
RECONNECT_MS = 1000


class LiveHub:
    """Wakes this process's open streams when its worker stores an event."""

    def __init__(self, max_streams: int = 2) -> None:
        self._changed = threading.Condition()
        self._version = 0
        self._closed = False
        self._slots = threading.BoundedSemaphore(max_streams)

    def changed(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait(self, version: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._version != version or self._closed, timeout)
            return self._version

    @property
    def version(self) -> int:
        return self._version

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def acquire(self) -> bool:
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()


def shown(item: dict[str, Any]) -> dict[str, Any]:
    """A live entry with the words a page shows for its codes (mailbeacon.words): live.js
    writes what a reloaded page would, never ``scanner`` or ``known-scanner-user-agent``."""
    client = item.get("client") or "other"
    return {
        **item,
        "kind_word": words.kind(item.get("kind", ""), client),
        "verdict_word": words.verdict(item.get("verdict", "")),
        "client_word": words.client(client) if client != "other" else "",
        "reasons_word": words.reasons(item.get("reasons") or ()),
    }


def sse(event: str, data: Any, event_id: str | None = None) -> str:
    """One message in the text/event-stream format (HTML Living Standard, section 9.2)."""
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def stream(
    records: Records,
    hub: LiveHub,
    owner: str,
    cursor: str | None,
    now: Callable[[], datetime],
    *,
    lifetime: float = STREAM_SECONDS,
) -> Iterator[str]:
    """The stream's body (the caller gives the hub's slot back when the response closes)."""
    events, cursor = live.since(records, owner, cursor, now())
    yield f"retry: {RECONNECT_MS}\n\n"
    yield sse("hello", {"cursor": cursor}, cursor)
    deadline = time.monotonic() + lifetime
    version = hub.version
    seen: set[str] = set()  # since() looks back a little: each event is sent once
    while True:
        for item in events:
            if item["id"] not in seen:
                seen.add(item["id"])
                yield sse("mailbeacon", shown(item), cursor)
        left = deadline - time.monotonic()
        if left <= 0 or hub.closed:
            return
        version = hub.wait(version, min(RECHECK_SECONDS, left))
        events, cursor = live.since(records, owner, cursor, now())

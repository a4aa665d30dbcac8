"""A webhook receiver on 127.0.0.1 for Slack and Chat webhooks, with scripted answers.

By default it answers like Slack's incoming webhooks (200 ``ok`` as text/plain,
https://api.slack.com/messaging/webhooks#handling_errors); a caller queues other answers (429
with Retry-After, 500, 404 for a revoked hook) to exercise retries and permanent failures.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .loopback import Answer, LoopbackServer

LOOPBACK_WEBHOOKS = {"MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
"""What a Mailbeacon process needs to post to a receiver here: production allows only Slack's
and Chat's hosts."""


class WebhookReceiver:
    def __init__(
        self,
        default: Answer = (200, {"Content-Type": "text/plain"}, b"ok"),
        *,
        delay: float = 0.0,
    ) -> None:
        """``delay``: hold every answer that long (a slow remote), or until ``release()``."""
        self.default = default
        self.delay = delay
        self.script: list[Answer] = []
        self.holds: list[float] = []  # per scripted answer: seconds to hold it (a timeout)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.server = LoopbackServer(self._respond)

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if self.delay:
            self._released.wait(self.delay)
        with self._lock:
            if not self.script:
                return self.default
            answer, hold = self.script.pop(0), self.holds.pop(0)
        if hold:
            threading.Event().wait(hold)  # longer than the sender waits: it times out
        return answer

    def release(self) -> None:
        """Answer every held request now, and later ones at once."""
        self._released.set()

    def then(
        self, status: int, body: bytes = b"", *, hold: float = 0.0, **headers: str
    ) -> WebhookReceiver:
        """Queue one answer (header names with underscores get dashes); ``hold`` keeps it
        back that many seconds first."""
        with self._lock:
            self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))
            self.holds.append(hold)
        return self

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests

    def json_bodies(self) -> list[Any]:
        return [json.loads(r["body"]) for r in self.server.requests]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self.server.wait_for(count, timeout)

    def stop(self) -> None:
        self.server.stop()

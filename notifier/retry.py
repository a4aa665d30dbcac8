"""Retry policies as small objects, independent of HTTP, with the sleep injected.

Short waits (a 429 asking for a second or two, a 5xx, a timeout) are retried in place. A long
Retry-After is not slept through: the caller raises RetryLater and the bus redelivers later,
so a worker thread (or a billed Cloud Function) never idles for a minute. The bus keeps
redelivering for ``horizon`` (hours); past it, the delivery gives up and the owner sees why.
Whatever a server sends as Retry-After (mailbeacon/retry_after.py reads it), a sleep here is
finite, non-negative and at most ``max_inline_wait``.
"""

from __future__ import annotations

import math
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from typing import TypeVar
from urllib.error import URLError

from mailbeacon.errors import DeliveryFailed, RetryLater

T = TypeVar("T")
Sleep = Callable[[float], None]


@dataclass
class RetryPolicy:
    """How often and how long to retry a transient failure in place."""

    retries: int = 2
    base: float = 0.5
    cap: float = 5.0
    max_inline_wait: float = 5.0
    # A Retry-After beyond this (or "inf") would park the alert for good: give up instead.
    max_retry_after: float = 6 * 3600.0
    horizon: float = 6 * 3600.0
    """How long an alert's deliveries may keep failing before it is given up (and the owner
    told): a receiver down for an hour gets its alert when it is back."""
    sleep: Sleep = field(default=time.sleep, repr=False)

    def gives_up(self, exc: DeliveryFailed) -> bool:
        """Whether the server's Retry-After is too long (or not a number) to wait for."""
        wait = exc.retry_after
        return wait is not None and not (math.isfinite(wait) and wait <= self.max_retry_after)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``attempt`` (1-based): the server's hint, else jittered backoff;
        never negative, NaN or longer than ``max_inline_wait``."""
        if retry_after is not None and retry_after >= 0:  # (NaN is not >= 0)
            return min(retry_after, self.max_inline_wait)
        backoff = random.uniform(0.5, 1.0) * min(self.cap, self.base * 2 ** min(attempt - 1, 32))
        return min(backoff, self.max_inline_wait)

    def call(self, send: Callable[[], T]) -> T:
        """Run ``send``; retry transient DeliveryFailed; hand long waits back as RetryLater."""
        attempt = 0
        while True:
            try:
                return send()
            except DeliveryFailed as exc:
                if exc.permanent:
                    raise
                too_long = exc.retry_after is not None and not (
                    exc.retry_after <= self.max_inline_wait
                )
                if too_long or attempt >= self.retries:
                    raise
                attempt += 1
                self.sleep(self.delay(attempt, exc.retry_after))

    def settle(self, exc: DeliveryFailed) -> Exception:
        """What to raise to the bus for a transient failure that survived inline retries."""
        if exc.retry_after is not None and exc.retry_after > self.max_inline_wait:
            return RetryLater(exc.retry_after, str(exc))
        return exc


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    URLError,
    ConnectionError,
    RemoteDisconnected,
    TimeoutError,
    socket.timeout,
)

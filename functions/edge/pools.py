"""Bounded thread pools for the Flask app, and the caller limits in front of them.

A pool is a few daemon threads and a capacity (threads plus a short queue) counted on the
event loop: a request beyond it is answered 503 with Retry-After at once instead of waiting
in an unbounded queue, and a request that never ends cannot hold the process at exit (the
threads are daemons; ``concurrent.futures`` joins its workers at exit, which is how SIGTERM
used to hang). Counting happens on the loop thread only, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Pool:
    """``threads`` daemon threads; ``admit`` says whether one more request may wait for one."""

    def __init__(self, name: str, threads: int, queued: int = 0) -> None:
        self.name = name
        self.threads = threads
        self.capacity = threads + queued
        self.in_use = 0
        self.refused = 0  # since the last warning (router.py)
        self.warned_at = -1e9
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for n in range(threads):
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True).start()

    def full(self) -> bool:
        return self.in_use >= self.capacity

    def admit(self) -> bool:
        """Take a place (loop thread only); False when the pool and its queue are full."""
        if self.in_use >= self.capacity:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` on a pool thread; the future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((fn, args, future, loop))
        return future

    def stop(self) -> None:
        """Let idle threads end (busy ones are daemons: the process does not wait for them)."""
        for _ in range(self.threads):
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, future, loop = job
            if future.cancelled():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting request
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)


def _settle(loop: asyncio.AbstractEventLoop, future: Any, result: Any, exc: Any) -> None:
    def settle() -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed loop: the server is exiting
        loop.call_soon_threadsafe(settle)

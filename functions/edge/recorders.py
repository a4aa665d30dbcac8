"""The hit's one durable write, from the event loop.

On the local bus it is one append to the spool, made on the loop: a ``write`` to the page
cache, the same cost as answering. With ``MAILBEACON_SQLITE_SYNC=FULL`` the answer also waits
for an ``fdatasync`` covering the record, made by a flusher thread: while it flushes, new
records gather for the next flush (group commit), and the loop never waits for the disk.
Any other bus (Pub/Sub in cluster mode: a network call) publishes from a pool of its own.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
from json.encoder import encode_basestring_ascii
from typing import Protocol

from mailbeacon.bus import Bus
from mailbeacon.bus.local import LocalBus
from mailbeacon.clock import iso
from mailbeacon.errors import BusUnavailable
from mailbeacon.model import Hit
from mailbeacon.pipeline import record_hit

from .pools import Pool

log = logging.getLogger(__name__)

_FIELDS = (
    *("id", "kind", "message_id", "at", "method", "user_agent", "accept", "purpose"),
    *("has_referer", "via", "ip_hash", "network", "network_tags", "link_index", "url"),
)
if tuple(f.name for f in dataclasses.fields(Hit)) != _FIELDS:  # pragma: no cover
    raise ImportError("Hit's fields changed: encode_hit below must write the new ones")


def encode_hit(hit: Hit) -> bytes:
    """``Hit.to_dict()`` as compact JSON, the same bytes ``json.dumps`` writes, at a third of
    its cost: the pixel's costliest step after verifying its token. Every string goes
    through json's own escaper; tests/unit/test_edge_hit_encoding.py holds the two equal."""
    s = encode_basestring_ascii
    tags = ",".join([s(tag) for tag in hit.network_tags])
    index = "null" if hit.link_index is None else str(int(hit.link_index))
    url = "null" if hit.url is None else s(hit.url)
    return (
        f'{{"id":{s(hit.id)},"kind":{s(hit.kind)},"message_id":{s(hit.message_id)},'
        f'"at":{s(iso(hit.at))},"method":{s(hit.method)},"user_agent":{s(hit.user_agent)},'
        f'"accept":{s(hit.accept)},"purpose":{s(hit.purpose)},'
        f'"has_referer":{"true" if hit.has_referer else "false"},"via":{s(hit.via)},'
        f'"ip_hash":{s(hit.ip_hash)},"network":{s(hit.network)},"network_tags":[{tags}],'
        f'"link_index":{index},"url":{url}}}'
    ).encode()


class Recorder(Protocol):
    immediate: bool
    """Whether ``record_now`` makes a hit durable without waiting (a page-cache write)."""

    async def record(self, hit: Hit) -> None:
        """Durable when this returns; raises BusUnavailable (the answer goes out anyway)."""
        ...

    def record_now(self, hit: Hit) -> None:
        """The same, without a coroutine, when ``immediate``."""
        ...

    def close(self) -> None: ...


def recorder_for(bus: Bus) -> Recorder:
    if isinstance(bus, LocalBus):
        return SpoolRecorder(bus)
    return PoolRecorder(bus)


class SpoolRecorder:
    """One spool append on the loop; a flusher thread for the synchronous mode."""

    def __init__(self, bus: LocalBus) -> None:
        self.bus = bus
        self.sync = bus.hit_spool().sync
        self.immediate = not self.sync
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._due = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        if self.sync:
            threading.Thread(target=self._flusher, name="spool-flush", daemon=True).start()

    def record_now(self, hit: Hit) -> None:
        self.bus.publish_hit(encode_hit(hit), wait=False)

    async def record(self, hit: Hit) -> None:
        ticket = self.bus.publish_hit(encode_hit(hit), wait=False)
        if not self.sync:
            return
        loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((ticket, future))
        self._due.set()
        await future

    def _flusher(self) -> None:
        writer = self.bus.hit_spool()
        while not self._closed:
            self._due.wait()
            self._due.clear()
            if self._closed:
                return
            try:
                done, error = writer.flush(), None
            except OSError as exc:
                done, error = -1, BusUnavailable(f"hit spool: flush failed ({exc.strerror})")
            loop = self._loop
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._settle, done, error)
                except RuntimeError:  # the loop is closed: exiting
                    return

    def _settle(self, done: int, error: Exception | None) -> None:
        waiting = self._waiting
        if error is not None:  # every waiter so far: their records may not be on disk
            while waiting:
                future = waiting.popleft()[1]
                if not future.done():
                    future.set_exception(error)
            return
        while waiting and waiting[0][0] <= done:
            future = waiting.popleft()[1]
            if not future.done():
                future.set_result(None)
        if waiting:
            self._due.set()

    def close(self) -> None:
        self._closed = True
        self._due.set()


class PoolRecorder:
    """Any other bus: its publish is a network call, made on threads of its own."""

    immediate = False

    def __init__(self, bus: Bus, threads: int = 8) -> None:
        self.bus = bus
        self.pool = Pool("publish", threads)

    def record_now(self, hit: Hit) -> None:
        raise NotImplementedError("a network publish is never made on the loop")

    async def record(self, hit: Hit) -> None:
        await self.pool.run(record_hit, self.bus, hit)

    def close(self) -> None:
        self.pool.stop()

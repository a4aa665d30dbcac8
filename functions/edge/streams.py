"""Live dashboard streams (Server-Sent Events) as async handlers: a stream holds no thread.

Each open page costs a coroutine, a socket and one short feed read a second on the streams'
own two threads (the feed is records: the worker process writes it, so it is read, not
pushed). Streams are bounded per user and in total (a page refused one polls instead), send
a comment line as a heartbeat when quiet (proxies and browsers keep the connection), end
when the client leaves, after ``lifetime`` (the browser reconnects where it left off, by its
Last-Event-ID) and at once when the server shuts down.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

from werkzeug.sansio.http import parse_cookie

from mailbeacon import live
from mailbeacon.errors import InvalidInput, MailbeaconError

from ..dashboard.live import RECONNECT_MS, sse
from ..dashboard.signin import SESSION_COOKIE
from .asgi import JSON, Receive, Scope, Send, answer, header
from .places import STREAMS, STREAMS_PER_USER, Places
from .pools import Pool
from .ports import StreamParts

RECHECK_SECONDS = 1.0
LIFETIME_SECONDS = 300.0
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


def session_cookie(scope: Scope) -> str | None:
    """The dashboard's session cookie, parsed as the Flask pages parse it."""
    raw = header(scope, b"cookie")
    # werkzeug's sansio parser, as Flask's ``request.cookies`` (werkzeug.http's raises on a
    # byte that is not UTF-8)
    return parse_cookie(raw.decode("latin-1")).get(SESSION_COOKIE) if raw else None


class LiveStreams:
    """Every open stream of this process, bounded across the server's edge processes
    (``places``); ``close`` ends them all."""

    def __init__(
        self,
        parts: StreamParts,
        places: Places,
        *,
        total: int,
        per_user: int,
        heartbeat: float,
        lifetime: float = LIFETIME_SECONDS,
        recheck: float = RECHECK_SECONDS,
    ) -> None:
        self.parts = parts
        self.places = places
        self.total, self.per_user = total, per_user
        self.heartbeat, self.lifetime, self.recheck = heartbeat, lifetime, recheck
        self.reads = Pool("stream-reads", 2)
        self._open: set[asyncio.Event] = set()
        self._closed = False

    def close(self) -> None:
        """Shutdown: every stream sends its last bytes and ends now."""
        self._closed = True
        for stop in list(self._open):
            stop.set()
        self.reads.stop()

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        if self._closed:
            return await _error(send, 503, "the server is shutting down", head, retry=5)
        try:
            user = await self.reads.run(self.parts.signed_in, session_cookie(scope))
        except MailbeaconError as exc:  # the store is unavailable: the page polls later
            return await _error(send, 503, str(exc), head, retry=30)
        if not user:
            return await _error(send, 401, "signed out", head)
        if self._closed:  # (it began while we read the session)
            return await _error(send, 503, "the server is shutting down", head, retry=5)
        place = self.places.take(STREAMS, "", self.total)
        if place is None:
            return await _error(
                send, 503, "too many live pages open: poll /dashboard/live/poll", head, retry=30
            )
        mine = self.places.take(STREAMS_PER_USER, user, self.per_user)
        if mine is None:
            self.places.give(place)
            return await _error(
                send, 429, "too many live pages of yours open: poll /dashboard/live/poll", head
            )
        last_id = header(scope, b"last-event-id")
        query = parse_qs(scope["query_string"].decode("latin-1"))
        cursor = last_id.decode("latin-1") if last_id else (query.get("cursor") or [None])[0]
        stop = asyncio.Event()
        self._open.add(stop)
        try:
            try:
                events, cursor = await self.reads.run(
                    live.since, self.parts.records, user, cursor, self.parts.clock.now()
                )
            except InvalidInput as exc:
                return await _error(send, 400, str(exc), head)
            except MailbeaconError as exc:
                return await _error(send, 503, str(exc), head, retry=30)
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            if head:
                return await send({"type": "http.response.body", "body": b""})
            watcher = asyncio.create_task(_watch(receive, stop))
            try:
                await self._run(send, stop, user, cursor, events)
            finally:
                watcher.cancel()
        finally:
            self._open.discard(stop)
            self.places.give(mine)
            self.places.give(place)

    async def _run(
        self, send: Send, stop: asyncio.Event, user: str, cursor: str, events: list
    ) -> None:
        first = f"retry: {RECONNECT_MS}\n\n" + sse("hello", {"cursor": cursor}, cursor)
        await _chunk(send, first)
        seen: set[str] = set()  # live.since looks back a little: each event is sent once
        now = time.monotonic
        ends = now() + self.lifetime
        quiet_since = now()
        while True:
            fresh = [item for item in events if item["id"] not in seen]
            if fresh:
                seen.update(item["id"] for item in fresh)
                await _chunk(send, "".join(sse("mailbeacon", item, cursor) for item in fresh))
                quiet_since = now()
            elif now() - quiet_since >= self.heartbeat:
                await _chunk(send, ": keep-alive\n\n")
                quiet_since = now()
            left = ends - now()
            if left <= 0 or stop.is_set():
                break
            try:
                async with asyncio.timeout(min(self.recheck, left, self.heartbeat)):
                    await stop.wait()
            except TimeoutError:
                pass
            if stop.is_set():
                break
            events, cursor = await self.reads.run(
                live.since, self.parts.records, user, cursor, self.parts.clock.now()
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch(receive: Receive, stop: asyncio.Event) -> None:
    """Ends the stream when the client disconnects."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stop.set()
            return


async def _chunk(send: Send, text: str) -> None:
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


async def _error(send: Send, status: int, message: str, head: bool, retry: int = 0) -> None:
    extra = [(b"retry-after", str(retry).encode())] if retry else []
    body = json.dumps({"error": message}).encode() + b"\n"
    await answer(send, status, body, JSON, extra, head=head)

"""The ASGI app `mailbeacon serve` runs: tracking and streams on the loop, the rest in pools.

- ``/p/{token}.gif``, ``/c/{token}``, ``/healthz``: answered on the loop (``answers.py``);
  the hit's one spool append is the only I/O. No pool, so nothing can queue them.
- ``/dashboard/live/stream``: an async stream (``streams.py``).
- Everything else: the Flask app (the same one Cloud Functions run) in a bounded pool chosen
  by route: ``hooks`` (add-on, Slack, Chat, Gmail push), ``exports`` (CSV, data export,
  search, long pages; one at a time per caller) or ``web`` (the dashboard and the API). The
  body is read on the loop first, under a deadline and before a pool place is taken (a body
  that stalls holds only its connection); a full pool answers 503 at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from mailbeacon.health import Health
from mailbeacon.validation import whole_number

from .answers import TrackingAnswers
from .asgi import BodyRefused, Disconnected, Receive, Scope, Send, read_body, refuse
from .budget import Budget
from .places import EXPORTS, Places
from .pools import Pool
from .recorders import Recorder
from .settings import EdgeConfig
from .streams import LiveStreams, session_cookie
from .tracking import Tracker, route
from .wsgi import (
    Abandoned,
    Answer,
    Exchange,
    NoRoom,
    WsgiApp,
    environ_for,
    send_answer,
)

log = logging.getLogger(__name__)

STREAM_PATH = "/dashboard/live/stream"
HOOK_PREFIXES = ("/addon", "/chat", "/slack/", "/gmail/")
EXPENSIVE_SUFFIXES = (".csv",)
EXPENSIVE_PATHS = ("/dashboard/export",)
LISTINGS = ("/api/v1/messages", "/dashboard/messages")
LONG_PAGE = 50  # reporting.DEFAULT_LIMIT: a listing asking for more is an expensive call


def is_expensive(scope: Scope) -> bool:
    """CSV downloads, data exports, domain overviews, searches and long listings."""
    path: str = scope["path"]
    if path.endswith(EXPENSIVE_SUFFIXES) or path in EXPENSIVE_PATHS:
        return True
    query: bytes = scope["query_string"]
    if not query:
        return False
    if path.endswith("/overview") and b"scope=domain" in query:
        return True
    if path in LISTINGS:
        from urllib.parse import parse_qs

        args = parse_qs(query.decode("latin-1"))
        limit = whole_number((args.get("limit") or ["0"])[0])
        return bool(args.get("q")) or (limit is not None and limit > LONG_PAGE)
    return False


def caller_of(scope: Scope) -> str:
    """Who is asking, without a store read: their credential (bearer token or session
    cookie), digested. Anonymous callers share one key, so they share one place.

    The credential, not the header's spelling: "bearer  X" is accepted as "Bearer X", and a
    session cookie comes with any other cookies, so keying on the raw header gave a caller
    one more place per spelling."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).strip().partition(b" ")
            return _digest(scheme.lower() + b" " + token.strip())
    session = session_cookie(scope)
    return _digest(session.encode("utf-8", "surrogatepass")) if session else "anonymous"


def _digest(credential: bytes) -> str:
    return hashlib.sha256(credential).hexdigest()[:32]


class Edge:
    """The ASGI callable. ``close`` starts the shutdown: streams end, new work is refused."""

    def __init__(
        self,
        tracker: Tracker,
        recorder: Recorder,
        health: Health,
        streams: LiveStreams | None,
        web: WsgiApp,
        config: EdgeConfig,
        places: Places,
    ) -> None:
        self.tracking = TrackingAnswers(tracker, recorder, health)
        self.recorder = recorder
        self.streams = streams
        self.web = web
        self.config = config
        self.pools = {
            "web": Pool("web", config.web_threads, config.web_threads * 4),
            "hooks": Pool("hooks", config.hook_threads, config.hook_threads * 4),
            "exports": Pool("exports", config.export_threads),
        }
        self.places = places  # shared with the other edge processes (places.py)
        self.bodies = Budget(config.body_budget)  # request bodies being read
        self.asides = Budget(config.aside_budget)  # long answers written aside
        self.closing = False
        self._reading: set[asyncio.Task[Any]] = set()

    def close(self) -> None:
        """Begin the shutdown (called on the loop): end streams, stop waiting for bodies."""
        self.closing = True
        if self.streams is not None:
            self.streams.close()
        for task in list(self._reading):
            task.cancel()

    def stop(self) -> None:
        for pool in self.pools.values():
            pool.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path[:3] in ("/p/", "/c/"):
                found = route(path)
                if found is not None:
                    return await self.tracking.track(found, scope, send)
            elif path == "/healthz" and scope["method"] in ("GET", "HEAD"):
                return await self.tracking.healthz(scope, send)
            elif (
                path == STREAM_PATH
                and self.streams is not None
                and scope["method"] in ("GET", "HEAD")
            ):
                return await self.streams.serve(scope, receive, send)
            return await self.flask(scope, receive, send)
        if kind == "lifespan":  # servers that speak it (Granian); uvicorn runs with it off
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # the Flask app ------------------------------------------------------------------------
    async def flask(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.closing:
            return await refuse(send, scope, 503, "shutting down", retry_after=5)
        path: str = scope["path"]
        expensive = False
        if path.startswith(HOOK_PREFIXES):
            pool = self.pools["hooks"]
        elif is_expensive(scope):
            pool, expensive = self.pools["exports"], True
        else:
            pool = self.pools["web"]
        if pool.full() and not expensive:  # refused before the client sends its body for
            return await _busy(pool, scope, send)  # nothing (an expensive caller: 429 first)
        body = await self._read_body(scope, receive, send)
        if body is None:  # refused (answered) or the client left
            return None
        place = None
        if expensive:  # (taken once the body is in: a stalled one holds nothing)
            place = self.places.take(EXPORTS, caller_of(scope), self.config.exports_per_user)
            if place is None:
                message = "one expensive call at a time: wait for the one running"
                return await refuse(send, scope, 429, message, retry_after=5)
        try:
            if not pool.admit():
                return await _busy(pool, scope, send)
            exchange = Exchange(self.asides)
            watcher = asyncio.create_task(_watch_disconnect(receive, exchange))
            try:
                try:
                    answer = await self._call(pool, scope, body, exchange)
                except asyncio.CancelledError:
                    exchange.gone.set()  # (shutdown: the thread stops making the answer)
                    raise
                except NoRoom as exc:
                    log.warning("%s %s: %s", scope["method"], path, exc)
                    message = "no room to make the answer now, try again later"
                    return await refuse(send, scope, 503, message, retry_after=30)
                finally:
                    pool.release()  # the thread is free: the answer is sent from the loop
                if answer is not None:
                    await send_answer(send, answer, exchange.gone)
            finally:
                watcher.cancel()
        finally:
            if place is not None:  # a caller's expensive call ends when its answer is sent
                self.places.give(place)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The body, read on the loop; None when it was refused (and answered) or the client
        left. Shutdown stops the wait (``close``)."""
        task = asyncio.current_task()
        assert task is not None
        self._reading.add(task)
        try:
            return await read_body(
                scope,
                receive,
                limit=self.config.max_body,
                seconds=self.config.body_timeout,
                budget=self.bodies,
            )
        except BodyRefused as exc:
            await refuse(send, scope, exc.status, str(exc))
        except Disconnected:
            pass
        except asyncio.CancelledError:
            if not self.closing:
                raise
            await refuse(send, scope, 503, "shutting down", retry_after=5)
        finally:
            self._reading.discard(task)
        return None

    async def _call(
        self, pool: Pool, scope: Scope, body: bytes, exchange: Exchange
    ) -> Answer | None:
        """The Flask app's whole answer, made on a thread of ``pool``; None if the client
        left meanwhile (nothing to send)."""
        try:
            return await pool.run(exchange.call, self.web, environ_for(scope, body))
        except Abandoned as exc:
            log.info("%s %s abandoned: %s", scope["method"], scope["path"], exc)
        return None


async def _busy(pool: Pool, scope: Scope, send: Send) -> None:
    pool.refused += 1
    now = time.monotonic()
    if now - pool.warned_at >= 10:  # a flood writes a line per pool per 10 s
        log.warning("%s pool full: %s requests refused (503)", pool.name, pool.refused)
        pool.warned_at, pool.refused = now, 0
    await refuse(send, scope, 503, "busy, try again", retry_after=2)


async def _watch_disconnect(receive: Receive, exchange: Exchange) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            exchange.gone.set()
            return

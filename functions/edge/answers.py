"""The answers made on the loop itself: the pixel, the click and ``/healthz``.

A tracking request's only I/O is the hit's spool append (``recorders.py``). A request without
a body is answered by the protocol as its headers complete (``answer_now``: one write, no
ASGI task); the ASGI path (``track``) takes the rest: a request with a body, one pipelined
behind another, a spool that must be flushed before the answer, or a server other than ours.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from mailbeacon.errors import MailbeaconError
from mailbeacon.health import Health

from .asgi import JSON, Scope, Send, answer
from .recorders import Recorder
from .tracking import FORWARDED_FOR, GIF, HIT_HEADERS, NO_STORE, Outcome, Tracker, route

_WANTED = {name.lower().encode(): name for name in (*HIT_HEADERS, FORWARDED_FOR)}
_NO_STORE = NO_STORE.encode()
_PLAIN = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", _NO_STORE)]
_GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", b"43"),
    (b"cache-control", _NO_STORE),
    (b"expires", b"0"),
]
_REDIRECT_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", _NO_STORE),
    (b"content-length", b"0"),
    (b"referrer-policy", b"no-referrer"),
]
_NOT_ALLOWED_HEADERS = [*_PLAIN, (b"content-length", b"0"), (b"allow", b"GET, HEAD")]
_NOT_FOUND_HEADERS = [*_PLAIN, (b"content-length", b"10")]
_NOT_FOUND = b"not found\n"


def _block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Header lines in their usual spelling (uvicorn lower-cases what goes through ASGI)."""
    return b"".join(name.title() + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"


# (status line, headers and body) for answer_now: the server puts its date between the two
_GIF_NOW = (b"200 OK\r\n", _block(_GIF_HEADERS) + GIF)
_GIF_HEAD_NOW = (b"200 OK\r\n", _block(_GIF_HEADERS))
_REDIRECT_NOW = b"302 Found\r\n", _block(_REDIRECT_HEADERS)[:-2]
_NOT_ALLOWED_NOW = (b"405 Method Not Allowed\r\n", _block(_NOT_ALLOWED_HEADERS))
_NOT_FOUND_NOW = (b"404 Not Found\r\n", _block(_NOT_FOUND_HEADERS) + _NOT_FOUND)
_NOT_FOUND_HEAD_NOW = (b"404 Not Found\r\n", _block(_NOT_FOUND_HEADERS))


def hit_headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], bool]:
    """The headers a hit reads (repeats joined, as a WSGI server joins them), and whether
    the request has a body."""
    found: dict[str, str] = {}
    body = False
    wanted = _WANTED
    for name, value in raw:
        key = wanted.get(name)
        if key is not None:
            text = value.decode("latin-1")
            found[key] = f"{found[key]}, {text}" if key in found else text
        elif name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            body = True
    return found, body


def _location(outcome: Outcome) -> bytes:
    from werkzeug.urls import iri_to_uri

    location = outcome.location or ""
    try:
        return iri_to_uri(location).encode("latin-1")
    except ValueError:  # a link tracked before ports were checked ("http://x:99999/")
        return quote(location, safe="!#$%&'()*+,/:;=?@[]~").encode("latin-1")


class TrackingAnswers:
    """``/p/``, ``/c/`` and ``/healthz``, answered without leaving the loop."""

    def __init__(self, tracker: Tracker, recorder: Recorder, health: Health) -> None:
        self.tracker = tracker
        self.recorder = recorder
        self.health = health

    def answer_now(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], client: Any
    ) -> tuple[bytes, bytes] | None:
        """The whole answer (status line; headers and body) to a pixel or click request
        without a body, made and recorded right here; None when it cannot be (not a tracking
        path, a body, a spool that must be flushed first): the request takes the ASGI path.
        The protocol calls this as the headers complete: uvicorn's per-request task, events
        and messages cost more than everything the pixel does."""
        if not self.recorder.immediate or b"%" in target:
            return None
        found = route(target.partition(b"?")[0].decode("latin-1"))
        if found is None:
            return None
        wanted, body = hit_headers(headers)
        if body:
            return None  # read it first: the ASGI path does
        verb = method.decode("latin-1")
        outcome = self.tracker.outcome(*found, verb, wanted, client[0] if client else None)
        if outcome.hit is not None:
            try:
                self.recorder.record_now(outcome.hit)
            except MailbeaconError as exc:
                self.tracker.failed(outcome.hit, str(exc))
            else:
                self.health.recorded()
        head = verb == "HEAD"
        if outcome.status == 200:
            return _GIF_HEAD_NOW if head else _GIF_NOW
        if outcome.status == 302:
            status, rest = _REDIRECT_NOW
            return status, rest + b"Location: " + _location(outcome) + b"\r\n\r\n"
        if outcome.status == 405:
            return _NOT_ALLOWED_NOW
        return _NOT_FOUND_HEAD_NOW if head else _NOT_FOUND_NOW

    async def track(self, found: tuple[str, str], scope: Scope, send: Send) -> None:
        """The ASGI path of the same answers."""
        wanted, _ = hit_headers(scope["headers"])
        client = scope.get("client")
        method: str = scope["method"]
        outcome = self.tracker.outcome(*found, method, wanted, client[0] if client else None)
        if outcome.hit is not None:
            try:
                await self.recorder.record(outcome.hit)
            except MailbeaconError as exc:
                self.tracker.failed(outcome.hit, str(exc))
            else:
                self.health.recorded()
        if outcome.status == 200:
            headers, body = _GIF_HEADERS, GIF
        elif outcome.status == 302:
            headers, body = [*_REDIRECT_HEADERS, (b"location", _location(outcome))], b""
        elif outcome.status == 405:
            headers, body = _NOT_ALLOWED_HEADERS, b""
        else:
            headers, body = _NOT_FOUND_HEADERS, _NOT_FOUND
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def healthz(self, scope: Scope, send: Send) -> None:
        report = self.health.report()
        body = json.dumps(report, separators=(",", ":")).encode() + b"\n"
        status = 200 if report["status"] == "ok" else 503
        await answer(send, status, body, JSON, head=scope["method"] == "HEAD")

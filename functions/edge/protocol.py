"""uvicorn's httptools protocol with a header deadline and a header size cap.

uvicorn has neither (encode/uvicorn#157): its keep-alive timer is armed only after an
answer and any byte received cancels it, so a client that drips a header byte now and then
holds its connection for ever. Here the wait for a head starts at the connection's start and
again at each answer, and ends when a request's headers are complete; one that lasts
``header_timeout`` closes the connection. Starting and ending a wait only note the time: the
connection's one timer, when it fires, closes it or sets itself again for the wait in
progress (a timer made and cancelled per request cost more than the rest of the protocol).
Headers (with the request line) over ``MAX_HEAD_BYTES``, or more than ``MAX_HEADER_FIELDS`` of
them, are answered 431 and closed. A client that reads none of its answers for
``send_timeout`` is cut off, whatever it asked for (a live stream's send, a CSV's, the pixel's
pipelined answers would otherwise wait for it for ever). A client that half-closes its side
after a whole request (``shutdown(SHUT_WR)``) is answered, then closed.

It also answers the pixel and the click itself when it can (``answer_now``): uvicorn spends
more per request on its task, events and ASGI messages than the pixel does on all its work.
With more than one edge process, it counts its connections where the others can see them and
sheds one, on such an answer, when this process holds too many (balance.py).

These are uvicorn's private hooks and attributes (``connection_made``, ``data_received``,
``on_message_begin``, ``on_headers_complete``, ``on_body``, ``on_message_complete``,
``on_response_complete``, ``url``, ``headers``, ``expect_100_continue``, ``scope``, ``cycle``,
``parser``, ``server_state``), hence the pinned version and
tests/integration/test_edge_protocol.py, which fails if an upgrade breaks them.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .balance import ConnectionShares

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 100
"""Header fields in one request (Apache's LimitRequestFields): browsers send about twenty.
Each costs the loop a parser callback: 10,800 tiny fields under the byte cap held it 4-5 ms
per request, and 16 connections sending them put the pixel's p99 at 97-143 ms."""
MIN_PROGRESS = 4096
"""Bytes a client must take per send deadline to count as reading (a byte every 30 s kept
a connection, and an export's place, for ever)."""
MAX_PIPELINED = 32
"""Requests one read may begin, and requests waiting behind an answer: more is an abuse
(browsers never pipeline), answered 400 and closed. Without it one send of 10,000 pixel
requests held the loop for 0.5 s, and a pipeline of other requests grew without bound."""


class Pipelined(Exception):
    """Raised from a parser callback: httptools stops, uvicorn answers 400 and closes."""


class HeadRefused(Exception):
    """Raised from a parser callback once the 431 is written: httptools stops."""


_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: 26\r\nconnection: close\r\n\r\nrequest headers too large\n"
)


Answer = Callable[[bytes, bytes, list[tuple[bytes, bytes]], Any], tuple[bytes, bytes] | None]
"""(method, request target, headers, client) -> (status line, headers and body), or None."""


def deadline_protocol(
    header_timeout: float,
    answer_now: Answer | None = None,
    shares: ConnectionShares | None = None,
    max_connections: int = 0,
    send_timeout: float = 30.0,
) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's ``Config(http=...)``.

    ``answer_now`` (the edge's pixel and click) is offered each request without a body and
    with nothing pipelined before it, as its headers complete: when it answers, the answer is
    written at once, in one write, with no ASGI task, and the request is done. With
    ``shares`` (more than one edge process), connections are counted there, and such an
    answer closes its connection when ``shares`` says this process holds too many. With
    ``max_connections``, a connection made beyond it closes the connections that have waited
    longest for a request (``_prune``). A connection whose answers wait in its buffer, the
    client reading none of them, for ``send_timeout`` is aborted.
    """
    settings = {
        "header_timeout": header_timeout,
        "send_timeout": send_timeout,
        "answer_now": staticmethod(answer_now),
        "shares": shares,
        "max_connections": max_connections,
    }
    return type("DeadlineProtocol", (DeadlineProtocol,), settings)


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's protocol with the header deadline, the head cap and ``answer_now``; made
    concrete by ``deadline_protocol``, which sets the two class attributes."""

    header_timeout: float = 10.0
    send_timeout: float = 30.0
    answer_now: Answer | None = None
    shares: ConnectionShares | None = None
    max_connections = 0
    _counted = False  # in ``shares``' count of this process's connections
    _deadline: asyncio.TimerHandle | None = None
    _since: float | None = None  # when the wait for the current head began (None: no wait)
    _read_bytes = 0  # everything read while waiting for a request's head
    _waiting_for_head = True
    _answered = False
    _begun = 0  # requests begun in the current read
    _stalled: asyncio.TimerHandle | None = None  # set while the client reads none of its answers
    _unsent = 0  # the answers' bytes waiting when the send deadline was last set
    _close_when_answered = False  # (EOF after whole requests, or a head refused behind them)
    _refused = False  # a head over a cap: nothing more is parsed

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        if self.shares is not None:
            self.shares.opened()
            self._counted = True
        if self.max_connections and len(self.connections) > self.max_connections:
            self._make_room()

    def _make_room(self) -> None:
        now = self.loop.time()
        if now >= _nothing_to_prune_until[0] and not _prune(self.connections, self.max_connections):
            _nothing_to_prune_until[0] = now + 0.05  # every one busy: look again later

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        if self._counted and self.shares is not None:
            self._counted = False
            self.shares.closed()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._begun = 0
        if self._waiting_for_head:
            self._read_bytes += len(data)
        else:
            self._framing += len(data)
        super().data_received(data)
        if self._waiting_for_head:
            # Still no complete head after this many bytes: the parser holds a header line it
            # has not finished (a body in the same read no longer counts once it has).
            if self._read_bytes > MAX_HEAD_BYTES:
                self._too_large()
        elif self._framing > MAX_HEAD_BYTES:
            self._too_large(framing=True)

    # Within a message, bytes that bring no body: a chunk's size line and extensions, and the
    # trailers after the last chunk. A trailer value tens of megabytes long held the loop for
    # seconds (httptools grows a field's value by copying it at each read) and the process's
    # memory by hundreds of megabytes; each body chunk resets the count.
    _framing = 0

    def _head_size(self) -> int:
        """The request line and header fields, as parsed (what was read may hold more: a body
        sent with them)."""
        return len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers)

    def eof_received(self) -> bool | None:
        """The client will send nothing more. Requests it sent whole are still answered (a
        half-close is allowed, and a POST it made was acted on: without its answer the client
        would retry it); then the connection closes. A request cut short by the EOF never will
        be whole, and an event stream (a live page) is never whole either: a browser that
        closes the page sends this EOF, and its stream must end now, not at its lifetime
        (its user's places were held, and the next pages refused): both close now (their
        handlers see a disconnect)."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete or cycle.more_body or self._read_bytes:
            return None  # nothing to answer, or a request that cannot end: close
        if any(
            name == b"accept" and b"text/event-stream" in value
            for name, value in cycle.scope["headers"]
        ):
            return None
        self._close_when_answered = True
        if not cycle.response_started:
            cycle.keep_alive = False  # its answer says "Connection: close"
        return True  # keep our side open for the answers

    def on_header(self, name: bytes, value: bytes) -> None:
        """uvicorn's, and the cap on the number of fields."""
        headers = self.headers
        if len(headers) >= MAX_HEADER_FIELDS:
            self._too_large(framing=not self._waiting_for_head)  # (trailers: framing)
            raise HeadRefused
        name = name.lower()
        value = value.rstrip(b" \t")  # (llhttp keeps trailing whitespace: RFC 9110 5.5)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        headers.append((name, value))

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # (refused: answered 431, or closing once answers are out)
            super().send_400_response(msg)

    def _too_large(self, *, framing: bool = False) -> None:
        """431 and close: over a cap in a head or (``framing``) in a message's framing or
        trailers. The 431 is written only where it is the next answer on the connection: an
        answer in progress, or requests waiting behind one, would take it for theirs. A head
        refused behind requests still to answer lets their answers go out first (nothing
        more is read), then closes."""
        cycle = self.cycle
        if framing:  # the message's own cycle, if it has one (not answered now), unstarted
            writable = not self._answered and cycle is not None and not cycle.response_started
        else:  # nothing before it still to answer
            writable = cycle is None or cycle.response_complete
        writable = writable and not self.pipeline
        self._disarm()
        self._waiting_for_head = False
        self._answered = True  # no ASGI cycle: the parser's later callbacks are ignored
        self._refused = True
        if self.transport.is_closing():
            return
        if writable:
            self.transport.write(_TOO_LARGE)
        elif not framing:  # answers owed to the requests before it: they go out, then close
            self.flow.pause_reading()
            self._close_when_answered = True
            if cycle is not None and not cycle.response_started:
                cycle.keep_alive = False
            return
        self.transport.close()

    def on_message_begin(self) -> None:
        """What uvicorn's does, less the ASGI scope (a dict and a copy of the app's state):
        a request ``answer_now`` answers never uses it; the others get it as their headers
        complete (``_asgi``)."""
        self._begun += 1
        if self._begun > MAX_PIPELINED or len(self.pipeline) >= MAX_PIPELINED:
            raise Pipelined
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        self._disarm()
        self._waiting_for_head = False
        if self.transport.is_closing():  # pipelined behind an answer that closed: the client
            self._answered = True  # retries it elsewhere (RFC 9112, 9.3.2), so nothing is done
            return
        if self._read_bytes > MAX_HEAD_BYTES and self._head_size() > MAX_HEAD_BYTES:
            return self._too_large()
        answer = self._answer_now()
        if answer is not None:
            self._write_now(answer)
        else:
            self._asgi()
        # Fields after the body (a chunked body's trailers) go to a list nobody reads: they
        # were appended to the request's headers, and a bearer token sent as a trailer signed
        # the request in. (They still count towards the cap.)
        self.headers = []

    def _asgi(self) -> None:
        """uvicorn's scope, made by its own on_message_begin, then its request cycle."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers
        super().on_headers_complete()

    def _answer_now(self) -> tuple[bytes, bytes] | None:
        """``answer_now``'s answer for a GET or HEAD with nothing pipelined before it."""
        if self.answer_now is None or not (self.cycle is None or self.cycle.response_complete):
            return None
        method = self.parser.get_method()
        if method != b"GET" and method != b"HEAD":
            return None
        return self.answer_now(method, self.url, self.headers, self.client)

    def _write_now(self, answer: tuple[bytes, bytes]) -> None:
        self._answered = True
        keep = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        if keep and self._counted and self.shares.shed(self.loop.time()):  # type: ignore[union-attr]
            keep = self._counted = False  # (shed() has counted it gone)
        status, rest = answer
        self.transport.write(
            b"".join((b"HTTP/1.1 ", status, _defaults(self.server_state.default_headers),
                      b"" if keep else b"Connection: close\r\n", rest))
        )  # fmt: skip
        self.server_state.total_requests += 1
        if not keep:
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        self._framing = 0
        if not self._answered:  # (answered requests have no body)
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._answered:
            self._answered = False
            if not self.transport.is_closing():
                self._arm()
        else:
            super().on_message_complete()
        self._waiting_for_head = True  # the next request's head is counted from here
        self._read_bytes = self._framing = 0

    def pause_writing(self) -> None:
        """The client reads slower than it asks: read nothing more until it catches up (the
        answers to a client that never read grew in memory without bound), and cut it off if
        it reads nothing for ``send_timeout`` (a send waiting for it would wait for ever: a
        live stream never read outlived its lifetime, its places taken)."""
        super().pause_writing()
        self.flow.pause_reading()
        if self._stalled is None:
            self._unsent = _unsent(self.transport)
            self._stalled = self.loop.call_later(self.send_timeout, self._reads_nothing)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.flow.resume_reading()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _reads_nothing(self) -> None:
        unsent = _unsent(self.transport)
        if unsent <= self._unsent - MIN_PROGRESS:  # it reads, slowly (still above the mark)
            self._unsent = unsent
            self._stalled = self.loop.call_later(self.send_timeout, self._reads_nothing)
            return
        self._stalled = None
        _reset(self.transport)  # (connection_lost: the handler's send returns, it ends)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # (which resumes reading)
        if self.flow.write_paused or self._refused:
            self.flow.pause_reading()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # nothing pipelined
            if self._close_when_answered:  # every request the client sent is answered
                return self.transport.close()
            self._arm()

    def _arm(self) -> None:
        """A wait for a head starts now."""
        since = self._since = self.loop.time()
        if self._deadline is None:
            self._deadline = self.loop.call_at(since + self.header_timeout, self._expire)

    def _disarm(self) -> None:
        """The wait is over (the timer finds nothing to do when it fires)."""
        self._since = None

    def _expire(self) -> None:
        self._deadline = None
        since = self._since
        if since is None or self.transport.is_closing():
            return
        due = since + self.header_timeout
        if self.loop.time() >= due - _EARLY:
            if self.transport.get_write_buffer_size():  # answers it never read: not kept
                _reset(self.transport)
            else:
                self.transport.close()
        else:  # a later wait than the one this timer was set for
            self._deadline = self.loop.call_at(due, self._expire)

    def _cancel(self) -> None:
        self._since = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def _unsent(transport: Any) -> int:
    """The answers' bytes not yet taken by the client: in the transport's buffer, and in the
    kernel's send queue (not yet acknowledged; Linux's SIOCOUTQ). The kernel's queue is where
    a slow reader's progress shows: the transport's buffer moves only when half of it drains."""
    unsent = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None and _OUTQ is not None:
        try:
            queued = array.array("i", [0])
            fcntl.ioctl(sock.fileno(), _OUTQ, queued)
            unsent += queued[0]
        except OSError:
            pass
    return unsent


def _reset(transport: Any) -> None:
    """Abort with a reset: a plain abort leaves what the kernel queued for a client that does
    not read (megabytes) held until that client closes its end (FIN-WAIT-1, for ever)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NONE)
    transport.abort()


_LINGER_NONE = struct.pack("ii", 1, 0)  # on, 0 s: close() resets and drops the queue
_OUTQ = getattr(termios, "TIOCOUTQ", None)  # (SIOCOUTQ on a TCP socket)
_nothing_to_prune_until = [0.0]


def _prune(connections: set[Any], most: int) -> int:
    """Too many connections for this process's open files (each is one): close those that
    have waited longest for a request, down to nine tenths of ``most``. Thousands of
    connections opened and left silent (or dripping a header) would otherwise take every
    file this process may open until the header deadline, and no new client, the pixel's
    included, could connect. A request in progress (an export, a live stream, a body being
    read) is never cut: its own bounds hold it. Returns how many were closed."""
    waiting = sorted(
        (c._since, id(c), c) for c in connections if c._since is not None and not c._answered
    )
    closing = waiting[: len(connections) - most * 9 // 10]
    for _, _, connection in closing:
        connection._cancel()
        connection.transport.close()
    return len(closing)


_EARLY = 0.002
"""Timers may fire this much before their time (uvloop's resolution is a millisecond)."""
_default_lines: list[Any] = [None, b""]


def _defaults(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The server's default header lines (the date), rebuilt when uvicorn changes them (once a
    second: a new list each time)."""
    cache = _default_lines
    if cache[0] is not headers:
        lines = b"".join(name.title() + b": " + value + b"\r\n" for name, value in headers)
        cache[0], cache[1] = headers, lines
    return cache[1]

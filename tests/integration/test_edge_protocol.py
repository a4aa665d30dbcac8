"""The contract functions/edge/protocol.py holds uvicorn to (it subclasses private hooks).

Run against the pinned uvicorn on a loopback socket: a header deadline that closes dripping
and idle connections, a cap on header bytes, and requests answered by ``answer_now`` without
an ASGI task, in order, with keep-alive, HEAD, HTTP/1.0 and pipelining intact. If an upgrade
of uvicorn breaks a hook, one of these fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from functions.edge.balance import ConnectionShares
from functions.edge.protocol import MAX_HEADER_FIELDS, MAX_PIPELINED, deadline_protocol
from tests.support.processes import wait_until

DEADLINE = 0.5


ENDLESS_ENDED: dict[bytes, threading.Event] = {}  # by the request's query
CLIENT_SHUT = threading.Event()  # set by ``half_closed`` once the client's EOF is sent


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI path: echoes the body's length; ``/endless`` answers for ever (as a live
    stream does) until its client is gone."""
    if scope["path"] == "/endless":
        ended = ENDLESS_ENDED.setdefault(scope["query_string"], threading.Event())
        return await endless(receive, send, ended)
    if scope["path"] == "/late":  # answers once its client has shut its side (as a Flask
        await asyncio.to_thread(CLIENT_SHUT.wait, 5)  # call on a thread may well answer)
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = f"asgi {len(body)}".encode()
    if scope["path"] == "/headers":  # the request's header names, as the app sees them
        text += b" " + b",".join(name for name, _ in scope["headers"])
    headers = [(b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


async def endless(receive: Any, send: Any, ended: threading.Event) -> None:
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    while not gone.is_set():
        await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
        await asyncio.sleep(0)  # (once the client is gone, send returns at once: let the
        # watcher see it, or this loop would spin for ever)
    watcher.cancel()
    ended.set()


def answer_now(method: bytes, target: bytes, headers: Any, client: Any) -> Any:
    if not target.startswith(b"/fast"):
        return None
    if any(name in (b"content-length", b"transfer-encoding") for name, _ in headers):
        return None
    body = b"" if method == b"HEAD" else b"fast " + target
    return b"200 OK\r\n", b"Content-Length: %d\r\n\r\n" % (len(target) + 5) + body


@contextlib.contextmanager
def serving(answer: Any, shares: ConnectionShares | None = None) -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        app,
        http=deadline_protocol(DEADLINE, answer, shares, send_timeout=DEADLINE),  # type: ignore[arg-type]
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    wait_until(lambda: server.started, timeout=10, interval=0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serving(answer_now) as bound:
        yield bound


def talk(port: int, data: bytes, *, until: bytes = b"", timeout: float = 5) -> tuple[bytes, float]:
    """Send ``data``, read until ``until`` appeared and then until EOF or ``timeout``.
    Returns (what was read, seconds until the server closed, or inf)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(data)
        sock.settimeout(timeout)
        got = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return got, time.monotonic() - started
                got += chunk
        except TimeoutError:
            assert until in got, got
            return got, float("inf")


def test_a_dripping_head_is_closed_at_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /slow HTTP/1.1\r\n")
        closed_at = None
        for _ in range(40):  # a header byte every 50 ms: far more than the deadline allows
            time.sleep(0.05)
            try:
                sock.sendall(b"X")
            except OSError:
                closed_at = time.monotonic() - started
                break
            sock.settimeout(0.001)
            try:
                if sock.recv(1) == b"":
                    closed_at = time.monotonic() - started
                    break
            except TimeoutError:
                pass
        assert closed_at is not None and DEADLINE - 0.05 <= closed_at < DEADLINE + 0.5


def test_an_idle_keep_alive_connection_is_closed_at_the_deadline(port: int) -> None:
    got, closed_after = talk(port, b"GET /fast/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"fast /fast/1")
    assert DEADLINE - 0.05 <= closed_after < DEADLINE + 0.5


def test_a_head_over_the_cap_is_answered_431(port: int) -> None:
    got, _ = talk(port, b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 431 ")


def test_more_header_fields_than_the_cap_are_answered_431(port: int) -> None:
    """10,800 tiny fields fit under the byte cap and cost the loop 4-5 ms a request."""
    for target in (b"/fast/many", b"/other"):
        fields = b"".join(b"A%d: b\r\n" % n for n in range(MAX_HEADER_FIELDS + 1))
        got, closed_after = talk(port, b"GET " + target + b" HTTP/1.1\r\n" + fields + b"\r\n")
        assert got.startswith(b"HTTP/1.1 431 ") and got.count(b"HTTP/1.1 ") == 1, got
        assert closed_after < DEADLINE
        fields = b"".join(b"A%d: b\r\n" % n for n in range(MAX_HEADER_FIELDS - 1))
        request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
        got, _ = talk(port, request)
        assert got.startswith(b"HTTP/1.1 200 "), got


def test_a_head_refused_behind_a_request_in_flight_lets_its_answer_out(port: int) -> None:
    """The 431 was written where the answer to the request before it belonged: the client
    took it for that request's answer (a POST made, its answer lost)."""
    fields = b"".join(b"A%d: b\r\n" % n for n in range(MAX_HEADER_FIELDS + 1))
    got, closed_after = talk(
        port,
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"  # (both parsed
        b"GET /x HTTP/1.1\r\n" + fields + b"\r\n",  # in one read: before POST's answer starts)
    )
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"asgi 5"), got
    assert got.count(b"HTTP/1.1 ") == 1 and b"connection: close" in got.lower()
    assert closed_after < DEADLINE


def test_trailers_are_never_taken_for_headers(port: int) -> None:
    """A chunked body's trailer fields reached the app as request headers: a bearer token
    sent only as a trailer signed the request in."""
    got, _ = talk(
        port,
        b"POST /headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nAuthorization: Bearer dev:eve@example.com\r\nX-Late: 1\r\n\r\n",
    )
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"asgi 3 host,transfer-encoding"), got


def test_framing_and_trailers_past_the_head_cap_are_answered_431(port: int) -> None:
    """One trailer value tens of megabytes long held the loop for seconds (httptools copies a
    field's value at each read) and the process's memory by hundreds of megabytes; a chunk's
    extensions are bounded alike. A long body in many chunks is not."""
    start = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    for framing in (b"0\r\nX-Big: " + b"a" * 200_000, b"3;ext=" + b"e" * 200_000):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(start)
            sock.settimeout(5)
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                for n in range(0, len(framing), 16384):  # in reads of its own, as a client
                    sock.sendall(framing[n : n + 16384])  # sending megabytes would
            got = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    got += chunk
        assert got.startswith(b"HTTP/1.1 431 "), got
    chunks = b"".join(b"%x\r\n%s\r\n" % (4000, b"b" * 4000) for _ in range(100))
    got, _ = talk(port, start + chunks + b"0\r\n\r\n")
    assert got.endswith(b"asgi 400003"), got


def half_closed(port: int, data: bytes) -> tuple[bytes, float]:
    """Send ``data``, then shut our side (SHUT_WR); what came back until the server closed."""
    CLIENT_SHUT.clear()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        CLIENT_SHUT.set()
        sock.settimeout(5)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got, time.monotonic() - started


def test_requests_sent_whole_before_a_half_close_are_answered_then_closed(port: int) -> None:
    """A client may shut its sending side once it has sent its request: it is answered (a
    POST was acted on; without an answer its client would send it again), then closed."""
    got, closed_after = half_closed(
        port, b"POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    )
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"asgi 5"), got
    assert b"connection: close" in got.lower() and closed_after < DEADLINE
    got, closed_after = half_closed(
        port,
        b"POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        b"GET /fast/h HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    answers = got.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 3 and answers[0].endswith(b"asgi 2"), got
    assert answers[1].endswith(b"asgi 0") and answers[2].endswith(b"asgi 0")
    assert closed_after < DEADLINE
    got, closed_after = half_closed(port, b"GET /fast/now HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.endswith(b"fast /fast/now") and closed_after < DEADLINE
    # a body cut short by the EOF can never end: closed at once, unanswered
    got, closed_after = half_closed(
        port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nhel"
    )
    assert got == b"" and closed_after < DEADLINE


def small_window(port: int) -> socket.socket:
    """A connection whose receive buffer is small from the start (set after the connection,
    the window the client first offered stays large)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


def test_an_event_stream_ends_at_its_clients_eof(port: int) -> None:
    """A browser closing a live page sends an EOF: the stream is never whole, so it ends
    then (kept open as a half-close, it held its user's stream places for minutes)."""
    ended = ENDLESS_ENDED.setdefault(b"events", threading.Event())
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"GET /endless?events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        )
        sock.recv(1)  # its answer has begun
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)  # read on (a client reading is never cut off): the server ends it
        ends = time.monotonic() + 5
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(1 << 20) and time.monotonic() < ends:
                pass
        assert ended.wait(1) and time.monotonic() < ends


def test_a_client_that_reads_slowly_is_not_cut_off(port: int) -> None:
    """Reading slowly is reading: its answers' buffer shrinks between two deadlines, though
    not yet below the mark that lets the handler send more."""
    ended = ENDLESS_ENDED.setdefault(b"slow", threading.Event())
    with small_window(port) as sock:
        sock.sendall(b"GET /endless?slow HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        read = 0
        ends = time.monotonic() + DEADLINE * 6
        while time.monotonic() < ends:  # about 40 KB/s: 64 KiB take longer than a deadline
            chunk = sock.recv(2048)
            assert chunk, f"cut off after {read} bytes"
            read += len(chunk)
            time.sleep(0.05)  # (the client's pace, not a wait for the server)
        assert not ended.is_set()


def test_a_client_that_reads_nothing_is_cut_off_at_the_send_deadline(port: int) -> None:
    """An answer that never ends (a live stream, a CSV) to a client that reads none of it:
    its send used to wait for the client for ever, the handler and its places held."""
    ended = ENDLESS_ENDED.setdefault(b"unread", threading.Event())
    with small_window(port) as sock:
        sock.sendall(b"GET /endless?unread HTTP/1.1\r\nHost: x\r\n\r\n")
        assert ended.wait(DEADLINE + 10)  # buffers fill in moments, then the deadline
        sock.settimeout(5)  # reset: what the kernel queued for it is dropped, not kept
        with pytest.raises(ConnectionResetError):  # until this end closes (FIN-WAIT-1)
            while sock.recv(1 << 20):
                pass


def test_answered_now_in_order_with_keep_alive_head_and_pipelining(port: int) -> None:
    pipelined = (
        b"GET /fast/a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /fast/b HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /fast/c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"  # a body: ASGI
        b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /fast/d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    got, closed_after = talk(port, pipelined)
    answers = got.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 5, got
    assert answers[0].endswith(b"fast /fast/a") and b"Date: " in answers[0]
    assert answers[1].endswith(b"\r\n\r\n")  # HEAD: no body
    assert answers[2].endswith(b"asgi 3") and answers[3].endswith(b"asgi 0")
    # behind an ASGI answer in the pipeline, so the ASGI path keeps the order
    assert b"connection: close" in answers[4].lower() and answers[4].endswith(b"asgi 0")
    assert closed_after < DEADLINE  # closed on "Connection: close", not by the deadline
    got, closed_after = talk(port, b"GET /fast/e HTTP/1.0\r\n\r\n")
    assert b"Connection: close" in got and closed_after < DEADLINE


def test_nothing_pipelined_behind_a_shed_answer_is_done(tmp_path: Path) -> None:
    """A process holding too many connections answers with `Connection: close`: what the
    client pipelined behind that request is neither answered nor acted on (it retries it on
    a new connection, RFC 9112 9.3.2), so a pixel is never recorded twice."""
    shares = ConnectionShares(tmp_path / "edge.connections", 0, 2)
    ConnectionShares(tmp_path / "edge.connections", 1)  # another process, with none
    shares.opened()
    shares.opened()  # two ahead of it before this client connects
    done: list[bytes] = []

    def recorded(method: bytes, target: bytes, headers: Any, client: Any) -> Any:
        done.append(target)
        return answer_now(method, target, headers, client)

    with serving(recorded, shares) as bound:
        got, closed_after = talk(
            bound,
            b"GET /fast/1 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /fast/2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        )
    assert got.count(b"HTTP/1.1 ") == 1 and b"Connection: close\r\n" in got, got
    assert got.endswith(b"fast /fast/1") and closed_after < DEADLINE
    assert done == [b"/fast/1"]
    assert shares.held == 2  # the shed connection counted gone once


def test_uvicorn_replaces_its_default_headers_each_tick() -> None:
    """The protocol keeps the date line it built until the list changes identity: uvicorn
    must hand a new list each second, not change the old one in place."""
    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    server = uvicorn.Server(config)
    before = server.server_state.default_headers
    asyncio.run(server.on_tick(0))
    after = server.server_state.default_headers
    assert after is not before and any(name == b"date" for name, _ in after)
    assert before == []  # the old list, untouched


def test_a_pipeline_longer_than_the_cap_is_answered_400_and_closed(port: int) -> None:
    """Browsers never pipeline; one send of 10,000 pixel requests held the loop for 0.5 s."""
    got, closed_after = talk(port, b"GET /fast/p HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
    answers = got.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == MAX_PIPELINED + 1, len(answers)
    assert all(a.startswith(b"200 ") for a in answers[:MAX_PIPELINED])
    assert answers[-1].startswith(b"400 ") and closed_after < DEADLINE
    got, _ = talk(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n" * 100)  # the ASGI path too
    assert got.count(b"HTTP/1.1 400 ") == 1 and got.count(b"HTTP/1.1 ") <= MAX_PIPELINED + 1


def test_a_client_that_never_reads_is_not_read_either(port: int) -> None:
    """Answers to a client that asks and never reads used to pile up in memory without bound
    (gigabytes in seconds): once they fill the transport's buffer the server stops reading, so
    the client's own sends stall, or a read over the pipeline cap closes it."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(1.0)
        batch = b"GET /fast/p HTTP/1.1\r\nHost: x\r\n\r\n" * 16  # under the pipeline cap
        sent = 0
        with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
            while sent < 200_000_000:  # stalls (reading paused) or is closed (a read of more
                sock.sendall(batch)  # than the cap): either way, bounded
                sent += len(batch)
        assert sent < 20_000_000, sent  # kernel buffers and one transport's high-water mark

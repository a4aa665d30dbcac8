"""The edge's pools in front of the Flask app (functions/edge/router.py, wsgi.py), served
by uvicorn with the edge's protocol on a loopback socket, the app a WSGI stand-in whose
expensive calls wait until the test lets them go.

What a user notices: a full pool answers 503 at once, a caller with an expensive call
running gets 429, and a long answer a client is slow to read (or never reads) holds no
thread, so nobody else's export is refused for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from functions.bootstrap import bootstrap
from functions.config import AppConfig
from functions.edge.places import Places
from functions.edge.protocol import deadline_protocol
from functions.edge.recorders import recorder_for
from functions.edge.router import Edge
from functions.edge.tracking import Tracker
from tests.support.processes import wait_until

ROW = 1024
LONG = 16 << 20  # past the buffers of both kernels: an answer that cannot end unread


class Web:
    """The Flask app's stand-in: ``/held.csv`` waits for ``release``; ``/long.csv`` answers
    ``LONG`` bytes in rows, as a CSV export streams them."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path == "/held.csv":
            self.entered.set()
            self.release.wait(20)
        start_response("200 OK", [("Content-Type", "text/csv")])
        if path == "/long.csv":
            return (b"%07d," % n + b"r" * (ROW - 9) + b"\n" for n in range(LONG // ROW))
        return [b"id,subject\n"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Web]]:
    app = bootstrap(AppConfig.local(tmp_path / "data"))
    web = Web()
    config = dataclasses.replace(app.config.edge, export_threads=1, send_timeout=30.0)
    edge = Edge(
        Tracker(app.tracking),
        recorder_for(app.tracking.bus),
        app.health,
        None,
        web,
        config,
        Places(tmp_path / "edge.locks"),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(
        uvicorn.Config(
            edge,
            http=deadline_protocol(5.0, edge.tracking.answer_now),  # type: ignore[arg-type]
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    wait_until(lambda: server.started, timeout=10, interval=0.01)
    try:
        yield sock.getsockname()[1], web
    finally:
        web.release.set()
        server.should_exit = True
        thread.join(10)
        edge.stop()
        app.close()


def get(port: int, path: str, user: str) -> tuple[int, bytes, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer dev:{user}"})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def unread(port: int, path: str, user: str) -> socket.socket:
    """A request whose client reads nothing of the answer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dev:{user}\r\n\r\n".encode()
    )
    return sock


def test_a_full_pool_answers_503_at_once_and_a_busy_caller_429(served: tuple[int, Web]) -> None:
    port, web = served
    held = unread(port, "/held.csv", "ann@example.com")
    try:
        assert web.entered.wait(10)  # the export pool's one thread is taken
        status, _, headers = get(port, "/other.csv", "bo@example.com")
        assert status == 503 and headers["Retry-After"], (status, _, headers)
        status, _, headers = get(port, "/other.csv", "ann@example.com")
        assert status == 429 and headers["Retry-After"]  # her one expensive call runs
        assert get(port, "/dashboard/", "bo@example.com")[0] == 200  # another pool
    finally:
        web.release.set()
        held.close()
    wait_until(lambda: get(port, "/other.csv", "bo@example.com")[0] == 200)


def test_a_long_answer_never_read_holds_no_thread(served: tuple[int, Web]) -> None:
    """A CSV streamed from the pool's thread held it for as long as its client took to read
    (30 s for one that read nothing): every other user's export was refused meanwhile."""
    port, _ = served
    stuck = unread(port, "/long.csv", "ann@example.com")
    try:
        wait_until(lambda: _readable(stuck))  # its answer has begun
        for n in range(3):
            status, body, _ = get(port, "/other.csv", f"user{n}@example.com")
            assert status == 200 and body == b"id,subject\n"
        assert get(port, "/other.csv", "ann@example.com")[0] == 429  # until hers is sent
        status, body, headers = get(port, "/long.csv", "cy@example.com")
        assert status == 200 and len(body) == int(headers["content-length"]) == LONG
        assert body.startswith(b"0000000,r") and body[-ROW:].startswith(
            b"%07d," % (LONG // ROW - 1)
        )
    finally:
        stuck.close()
    wait_until(lambda: get(port, "/other.csv", "ann@example.com")[0] == 200)


def _readable(sock: socket.socket) -> bool:
    with contextlib.suppress(BlockingIOError):
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    return False

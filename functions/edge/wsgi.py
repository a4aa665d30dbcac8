"""The Flask app behind the loop: a WSGI call on a pool thread, its answer sent by the loop.

The body was read on the loop already (``asgi.read_body``), so the thread never waits for a
client to send; it waits for a client to read only while streaming a long answer (a CSV), and
then at most ``send_seconds`` per chunk before the answer is abandoned. An answer of up to
``BUFFER`` bytes (nearly all of them) is handed over whole and frees the thread at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from .asgi import Scope, Send

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
BUFFER = 64 * 1024


def environ_for(scope: Scope, body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI request whose body is ``body``."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        # the path's bytes as latin-1 (PEP 3333): whatever the client sent survives decoding
        "PATH_INFO": unquote_to_bytes(scope.get("raw_path") or scope["path"]).decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if "_" in name:  # "X_Forwarded_For" must not pass for X-Forwarded-For (as cheroot)
            continue
        value = raw_value.decode("latin-1")
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if name in ("content-length", "transfer-encoding"):
            continue  # the body is whole: CONTENT_LENGTH says how long
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + value
        environ[key] = value
    return environ


class Abandoned(Exception):
    """The client stopped reading (or left) while a long answer was being sent."""


class Exchange:
    """One WSGI call's way back to the loop: a whole answer, or chunks with backpressure."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Send, send_seconds: float) -> None:
        self.loop = loop
        self.send = send
        self.send_seconds = send_seconds
        self.gone = threading.Event()  # set by the loop when the client disconnects
        self.started = False

    def call(self, app: WsgiApp, environ: dict[str, Any]) -> tuple[int, Any, bytes] | None:
        """Run the app (on a pool thread). Returns (status, headers, body) for an answer
        that fits in ``BUFFER``; None when it was streamed (already sent)."""
        head: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and self.started:
                raise exc_info[1].with_traceback(exc_info[2])
            encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            head[:] = [int(status[:3]), encoded]
            return self._write

        result = app(environ, start_response)
        try:
            pending: list[bytes] = []
            size = 0
            for chunk in result:
                if not chunk:
                    continue
                if self.started:
                    self._push(head, chunk, more=True)
                    continue
                pending.append(chunk)
                size += len(chunk)
                if size > BUFFER:
                    self._push(head, b"".join(pending), more=True)
                    pending, size = [], 0
            if not self.started:
                return head[0], head[1], b"".join(pending)
            self._push(head, b"", more=False)
            return None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _write(self, data: bytes) -> None:
        raise NotImplementedError("the write() callable of start_response is not supported")

    def _push(self, head: list[Any], chunk: bytes, *, more: bool) -> None:
        if self.gone.is_set():
            raise Abandoned("the client left")
        if not self.started:
            self.started = True
            self._send({"type": "http.response.start", "status": head[0], "headers": head[1]})
        self._send({"type": "http.response.body", "body": chunk, "more_body": more})

    def _send(self, message: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(self.send(message), self.loop)
        try:
            future.result(self.send_seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Abandoned(f"the client read nothing for {self.send_seconds:g} s") from None

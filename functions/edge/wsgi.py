"""The Flask app behind the loop: a WSGI call on a pool thread, its answer sent by the loop.

The body was read on the loop already (``asgi.read_body``), and the answer is taken whole
before the loop sends it: up to ``BUFFER`` bytes (nearly every answer) in memory, a longer
one (a CSV, a data export) in a temporary file. So the thread is free as soon as the app has
answered, whatever the client's pace: a CSV streamed from the thread held the export pool's
one thread, and every other user's export was refused, for as long as a client took to read
it (or 30 s, for one that read nothing).
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from .asgi import Scope, Send
from .budget import Budget

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
    """The client left while its answer was being made."""


class NoRoom(Exception):
    """A long answer could not be written aside (the disk is full)."""


Answer = tuple[int, list[tuple[bytes, bytes]], "bytes | Aside"]
"""(status, headers, body): the body in memory, or written aside, to send and close."""


class Exchange:
    """One WSGI call, made on a pool thread; ``gone`` is set by the loop if the client left."""

    def __init__(self, aside_budget: Budget) -> None:
        self.gone = threading.Event()
        self.budget = aside_budget

    def call(self, app: WsgiApp, environ: dict[str, Any]) -> Answer:
        """Run the app (on a pool thread) and return its whole answer."""
        head: list[Any] = []
        begun = False  # body bytes taken: the head counts as sent (PEP 3333)

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and begun:
                raise exc_info[1].with_traceback(exc_info[2])
            encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            head[:] = [int(status[:3]), encoded]
            return self._write

        result = app(environ, start_response)
        aside: Aside | None = None
        try:
            pending: list[bytes] = []
            size = 0
            for chunk in result:
                if not chunk:
                    continue
                begun = True
                if self.gone.is_set():
                    raise Abandoned("the client left")
                if aside is not None:
                    aside.write(chunk)
                    continue
                pending.append(chunk)
                size += len(chunk)
                if size > BUFFER:  # a long answer: on to a file, as the rest will be
                    aside = Aside(self.budget)
                    aside.write(b"".join(pending))
                    pending = []
            if aside is None:
                return head[0], head[1], b"".join(pending)
            answer: Answer = (head[0], head[1], aside.ready())
            aside = None  # (the caller's to close now)
            return answer
        finally:
            if aside is not None:
                aside.close()
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _write(self, data: bytes) -> None:
        raise NotImplementedError("the write() callable of start_response is not supported")


class Aside:
    """A long answer in a temporary file, its bytes counted in the budget until closed."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.size = 0
        try:
            self.file: IO[bytes] = tempfile.TemporaryFile(prefix="mailbeacon-answer-")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise NoRoom(f"no room for the answer: {exc.strerror or exc}") from None

    def write(self, data: bytes) -> None:
        if not self.budget.take(len(data)):
            raise NoRoom("too many long answers waiting for their clients")
        self.size += len(data)
        try:
            self.file.write(data)
        except OSError as exc:
            raise NoRoom(f"no room for the answer: {exc.strerror or exc}") from None

    def ready(self) -> Aside:
        self.file.seek(0)
        return self

    def read(self, size: int) -> bytes:
        return self.file.read(size)

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()
            self.budget.give(self.size)


async def send_answer(send: Send, answer: Answer, gone: threading.Event) -> None:
    """Send an answer made by ``Exchange.call`` from the loop; a long one is read from its
    file a ``BUFFER`` at a time as the client takes it (the protocol cuts off a client that
    takes nothing), with its length, and the file is closed."""
    status, headers, body = answer
    if isinstance(body, bytes):
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    try:
        if not any(name == b"content-length" for name, _ in headers):
            headers = [*headers, (b"content-length", str(body.size).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        while not gone.is_set():
            chunk = body.read(BUFFER)
            if not chunk:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # a send to a client that left returns at once: let the watcher tell us
            await asyncio.sleep(0)
        else:
            return  # the client left: the connection is closed
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        body.close()

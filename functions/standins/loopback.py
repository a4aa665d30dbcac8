"""A real HTTP server on 127.0.0.1 that every stand-in answers through.

A stand-in is a ``respond(method, path, headers, body) -> (status, headers, body)`` function;
the server records every request (method, path, headers, body) so a caller can wait for and
inspect what Mailbeacon sent.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]
Responder = Callable[[str, str, dict[str, str], bytes], Answer]
POLL_SECONDS = 0.05
"""How soon ``stop`` returns: serve_forever notices a shutdown request only when it polls."""


def free_port() -> int:
    """A port nothing listens on right now (for a child process told which port to take)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_answer(status: int, body: Any, **headers: str) -> Answer:
    """A JSON response; header names given with underscores (``Retry_After``) get dashes."""
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    return status, {"Content-Type": "application/json", **extra}, json.dumps(body).encode()


def google_error(status: int, reason: str, message: str, **headers: str) -> Answer:
    """Google's JSON error shape, ``{"error": {"code", "message", "status"}}``
    (https://cloud.google.com/apis/design/errors#http_mapping)."""
    body = {"error": {"code": status, "message": message, "status": reason}}
    return json_answer(status, body, **headers)


class LoopbackServer:
    """Serves ``respond`` on a free loopback port from construction until ``stop``."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                request = {"method": self.command, "path": self.path, "headers": headers}
                with outer.received:
                    outer.requests.append({**request, "body": body})
                    outer.received.notify_all()
                status, out_headers, out = outer.respond(self.command, self.path, headers, body)
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(POLL_SECONDS,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float) -> Any:
        """The predicate's first truthy answer over the requests so far, or None on timeout."""
        found = None

        def ready() -> bool:
            nonlocal found
            found = predicate(self.requests)
            return bool(found)

        with self.received:
            self.received.wait_for(ready, timeout)
            return found

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``count`` requests arrived; TimeoutError after ``timeout``."""
        if self.wait(lambda seen: len(seen) >= count, timeout) is None:
            raise TimeoutError(f"expected {count} requests, got {len(self.requests)}")
        return list(self.requests)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

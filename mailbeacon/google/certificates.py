"""Google's signing certificates, fetched within a total deadline.

google-auth's requests transport has a timeout per read only: a certificate URL that sends
a byte every few seconds keeps a fetch alive for as long as it likes, and with it the request
that needed the keys (and, before, the server's exit, which joined that thread). Here the
download runs on a daemon thread; the caller waits at most ``deadline`` seconds, then closes
the connection under it, which ends the download at once.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_BYTES = 1 << 20
"""Google's certificate documents are a few KB."""


@dataclass
class Fetched:
    """What google-auth reads of a response (google.auth.transport.Response)."""

    status: int
    headers: dict[str, str]
    data: bytes


@dataclass
class _Download:
    url: str
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Fetched | None = None
    error: BaseException | None = None
    conn: http.client.HTTPConnection | None = None
    aborted: bool = False

    def run(self) -> None:
        try:
            self.result = self._get()
        except BaseException as exc:  # handed to the waiting caller
            self.error = exc
        finally:
            self.done.set()

    def _get(self) -> Fetched:
        parts = urlsplit(self.url)
        if parts.scheme == "https":
            self.conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=self.timeout, context=_tls()
            )
        elif parts.scheme == "http":
            self.conn = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=self.timeout
            )
        else:
            raise ValueError(f"not an http(s) URL: {self.url[:80]}")
        path = parts.path or "/"
        self.conn.request("GET", path + (f"?{parts.query}" if parts.query else ""))
        if self.aborted:  # cut off while it connected
            raise TimeoutError("aborted")
        response = self.conn.getresponse()
        data = response.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ValueError(f"certificate document over {MAX_BYTES} bytes")
        return Fetched(response.status, dict(response.getheaders()), data)

    def abort(self) -> None:
        self.aborted = True
        conn = self.conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()


def fetch_within(url: str, deadline: float) -> Fetched:
    """GET ``url`` within ``deadline`` seconds in all, or raise TimeoutError."""
    download = _Download(url, deadline)
    threading.Thread(target=download.run, name="certificate-fetch", daemon=True).start()
    if not download.done.wait(deadline):
        download.abort()
        raise TimeoutError(f"the certificate URL took more than {deadline:g} s")
    if download.error is not None:
        raise download.error
    assert download.result is not None
    return download.result


_CONTEXT: Any = None


def _tls() -> ssl.SSLContext:
    """certifi's roots where installed (as requests would use), else the system's."""
    global _CONTEXT
    if _CONTEXT is None:
        try:
            import certifi

            _CONTEXT = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            _CONTEXT = ssl.create_default_context()
    return _CONTEXT

"""The edge put together from an App, and served by uvicorn on a socket bound beforehand.

uvicorn, with httptools and uvloop, was chosen over Granian's ASGI mode by measurement
(docs/architecture.md, "The local server"): close in speed, it runs in this process on a
socket we bind (so ``--port 0`` URLs are right from the start, and each edge process of
``serve`` is one of ours, functions/server.py), and its one gap, the header deadline, is
``protocol.py``.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

from ..bootstrap import App
from .balance import ConnectionShares
from .places import Places
from .ports import Streams
from .recorders import recorder_for
from .router import Edge
from .settings import EdgeConfig
from .streams import LiveStreams
from .tracking import Tracker

log = logging.getLogger(__name__)

PLACES_FILE = "edge.locks"
BACKLOG = 2048  # pending connections the kernel holds for us (a burst of new clients)
FILES_RESERVED = 256
"""Open files an edge process keeps for what is not a client's connection: the spool, the
database, the health board, calls out to Google and Slack."""
MAX_OPEN_FILES = 1 << 20  # where the hard limit is "unlimited" (Linux's fs.nr_open default)
PRELOADED = ("google.oauth2.id_token", "google.auth.transport.requests")
"""Imported before the first request: /chat, /addon and the sign-in verify Google's tokens
with them, imported lazily (a pixel's cold start elsewhere must not pay for them)."""
SLACK_PRELOADED = ("slack_sdk", "slack_sdk.signature", "notifier.slack_install")


def preload(app: App) -> None:
    """Import what the Flask routes would import lazily on their first request. Two first
    requests importing one package on two pool threads at once can deadlock in Python's
    import system (``_DeadlockError``: a 500); here it happens once, before any request."""
    import importlib

    notifier = app.config.notifier
    slack = notifier.slack_signing_secret or notifier.slack_client_id
    for name in (*PRELOADED, *(SLACK_PRELOADED if slack else ())):
        importlib.import_module(name)


def build_edge(app: App) -> Edge:
    """The edge over a bootstrapped App: each part gets only what it uses."""
    from ..app import create_app
    from ..dashboard import sign_in_gate

    config = app.config.edge
    preload(app)
    places = Places(app.config.core.data_dir / PLACES_FILE)
    streams = None
    if app.streams_live:
        gate = sign_in_gate(app)

        def session_user(cookie: str | None) -> str | None:
            found = gate.session(cookie, app.clock.now())
            return found[0] if found else None

        streams = LiveStreams(
            Streams(app.records, app.clock, session_user),
            places,
            total=config.streams_max,
            per_user=config.streams_per_user,
            heartbeat=config.stream_heartbeat,
        )
    return Edge(
        Tracker(app.tracking),
        recorder_for(app.tracking.bus),
        app.health,
        streams,
        create_app(app),
        config,
        places,
    )


def raise_open_files() -> int:
    """The soft limit on open files raised to the hard one; returns the soft limit now.

    Each connection is an open file, and Debian's soft limit is 1,024: a few hundred silent
    connections took every one, and the pixel was refused (connection reset) until the
    header deadline closed them. The children ``serve`` starts inherit the raised limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("open files stay limited to %s (%s)", soft, exc)
    return MAX_OPEN_FILES if soft == resource.RLIM_INFINITY else soft


def connection_limit() -> int:
    """Client connections this process holds at most (``protocol._prune`` beyond)."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    soft = MAX_OPEN_FILES if soft == resource.RLIM_INFINITY else soft
    return max(64, soft - FILES_RESERVED)


def run(
    edge: Edge,
    sock: socket.socket,
    config: EdgeConfig,
    *,
    on_exit: Callable[[], None] | None = None,
    shares: ConnectionShares | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down within ``config.shutdown_timeout``;
    with ``shares``, one of several edge processes on the port (balance.py)."""
    import uvicorn
    import uvloop

    from .protocol import deadline_protocol

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = uvicorn.Config(
        edge,
        http=deadline_protocol(  # type: ignore[arg-type]
            config.header_timeout,
            edge.tracking.answer_now,
            shares,
            connection_limit(),
            config.send_timeout,
        ),
        interface="asgi3",
        ws="none",  # no upgrade hands a connection to another protocol (it would never be
        # counted closed in balance.py; nothing here speaks WebSocket)
        lifespan="off",
        proxy_headers=False,  # X-Forwarded-For is ours to read, by --trust-proxy
        server_header=False,
        access_log=False,
        log_config=None,
        timeout_keep_alive=max(1, min(5, int(config.header_timeout))),
        timeout_graceful_shutdown=config.shutdown_timeout,  # type: ignore[arg-type]
        backlog=BACKLOG,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            loop.call_soon_threadsafe(_closing)
            super().handle_exit(sig, frame)

    def _closing() -> None:
        edge.close()
        if on_exit is not None:
            on_exit()

    server = Server(settings)
    # uvicorn raises the signal again, under the handler it found, once it has stopped:
    # that must not be Python's default (which would kill us before the cleanup).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _after_stop)
    # What start-up built lives as long as the process: out of the collector's sight, a full
    # collection no longer walks it (those walks were the pixel's worst pauses).
    gc.collect()
    gc.freeze()
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(server.serve(sockets=[sock]))
    finally:
        edge.recorder.close()
        loop.close()


def _after_stop(signum: int, _frame: Any) -> None:
    log.info("stopped on signal %s", signum)

"""`mailbeacon serve`: the edge on an event loop per CPU, the pipeline in a worker process.

The socket is bound first, so the URLs everything is built with name the real port (with
``--port 0`` too), and a port in use is refused before anything is written. Then the App is
bootstrapped, the worker process started and the edge (functions/edge) served by uvicorn
on that socket; one event loop answers pixels on one CPU only, so on a machine with more
the port is shared (SO_REUSEPORT: the kernel spreads connections) with an edge process per
further CPU (``serve_lane``), each appending hits to its own spool lane and holding the
limits in common with the others (functions/edge/places.py). SIGTERM (or Ctrl-C) ends live
streams at once, lets requests in flight finish for up to ``MAILBEACON_SHUTDOWN_TIMEOUT``
seconds, stops the other processes and exits: threads still busy then are daemons and
cannot hold the process.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbeacon.errors import MailbeaconError
from mailbeacon.files import write_private

from .bootstrap import App, bootstrap
from .config import AppConfig
from .edge.balance import ConnectionShares, mark_down
from .edge.serving import BACKLOG, build_edge, raise_open_files, run
from .loopback import loopback_host

if TYPE_CHECKING:
    from mailbeacon.health import HealthBoard

log = logging.getLogger(__name__)

HEALTH_FILE = "edge.health"
CONNECTIONS_FILE = "edge.connections"


def listen(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A listening TCP socket; ``port`` 0 picks a free one. Raises OSError.

    ``shared``: other processes of ours may listen on the same port (``listen_again``).
    The port is first bound without sharing, so a port another program (or another
    Mailbeacon) listens on is refused as in use, never silently shared with it."""
    if shared:
        with _bound(host, port, reuse_port=False) as probe:
            port = probe.getsockname()[1]
        return listen_again(host, port)
    sock = _bound(host, port, reuse_port=False)
    return _listening(sock)


def listen_again(host: str, port: int) -> socket.socket:
    """Another listening socket on a port ``listen(..., shared=True)`` holds."""
    return _listening(_bound(host, port, reuse_port=True))


def _bound(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _listening(sock: socket.socket) -> socket.socket:
    try:
        sock.listen(BACKLOG)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_url(host: str, port: int) -> str:
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}"


def _cannot_start(exc: BaseException) -> int:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    print(f"mailbeacon serve: cannot start: {reason}{where}", file=sys.stderr)
    return 2


def _start(config: AppConfig, sock: socket.socket, host: str) -> tuple[App, str, str]:
    """Bootstrap with the final URLs and record them. Returns (app, listen URL, public URL)."""
    core = config.core
    bound = listen_url(host, sock.getsockname()[1])
    public = (core.public_url or bound).rstrip("/")
    app = bootstrap(config.with_core(public_url=public))
    try:
        if config.notifier.vapid_private_key:
            app.vapid.get()  # a key that does not load is refused now, not at the first push
        write_private(core.server_file, json.dumps({"public_url": public, "listen": bound}))
        app.prepare()  # before the first answer: Pub/Sub's topics must exist to publish to
    except BaseException:
        app.close()
        raise
    return app, bound, public


def serve(config: AppConfig, *, host: str, port: int) -> int:
    # A server consumes the bus itself (in its worker process); on Pub/Sub that is cluster
    # mode's pull loop.
    config = config.with_core(pull_subscriptions=True)
    core = config.core
    if core.insecure_dev_auth and not loopback_host(host):
        print(
            f"mailbeacon serve: --insecure-dev-auth signs anyone in as anyone, so it works only"
            f" on this computer: bind 127.0.0.1 or ::1, not {host}",
            file=sys.stderr,
        )
        return 2
    processes = config.edge.edge_processes()
    raise_open_files()  # before the children start: they inherit it
    try:
        sock = listen(host, port, shared=processes > 1)
    except OSError as exc:
        return _cannot_start(exc)
    try:
        app, bound, public = _start(config, sock, host)
    except (OSError, ValueError, MailbeaconError) as exc:
        sock.close()
        return _cannot_start(exc)
    _watch_pipeline(app)
    shares = None
    try:
        board = _share_health(app, processes)
        if processes > 1:
            shares = ConnectionShares(core.data_dir / CONNECTIONS_FILE, 0, processes)
    except OSError as exc:
        app.close()
        sock.close()
        return _cannot_start(exc)
    final = config.with_core(public_url=public)
    children: list[Child] = []
    if core.worker:  # the pipeline in its own process; the edge processes only answer
        children.append(Child("worker", "functions.worker:run", (final,), grace=2.0).start())
    else:  # edge only: another process drains the spool
        log.warning("MAILBEACON_WORKER=off: hits are recorded but not processed here")
    where = (host, sock.getsockname()[1])
    grace = config.edge.shutdown_timeout + 1.0
    for lane in range(1, processes):
        args = (final.with_core(spool_lane=lane), *where)
        gone = functools.partial(_exited, board, core.data_dir / CONNECTIONS_FILE, lane)
        children.append(
            Child(f"edge-{lane}", "functions.server:serve_lane", args, grace, gone).start()
        )

    if core.insecure_dev_auth:
        banner = "!" * 72
        print(
            f"{banner}\n! LOCAL SIGN-IN (--insecure-dev-auth): on this computer, the dashboard"
            f" signs anyone in\n! as any address and 'Authorization: Bearer dev:<email>' is"
            f" accepted as that user.\n! Requests from any other computer are refused.\n{banner}",
            file=sys.stderr,
            flush=True,
        )
    answering = f"{processes} edge processes" if processes > 1 else "1 edge process"
    print(
        f"Mailbeacon listening on {bound} (public URL {public}, data in {core.data_dir};"
        f" {answering})"
    )
    hint = "  (local sign-in: use the address you track email as)" if core.insecure_dev_auth else ""
    print(f"Dashboard: {bound}/dashboard/{hint}")
    print(
        f"Track a first email: mailbeacon track --data-dir {core.data_dir}"
        " --sender you@example.com --to them@example.com --subject Hello",
        flush=True,
    )
    edge = build_edge(app)
    _answering(board, 0)

    asked: list[float] = []  # when the stop began: every child's grace counts from then

    def stopping() -> None:
        asked.append(time.monotonic())
        for child in children:
            child.begin_stop()

    try:
        run(edge, sock, config.edge, on_exit=stopping, shares=shares)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if shares is not None:
            shares.close()
        stopping()
        for child in children:
            child.stop(since=asked[0])
        edge.stop()
        app.close()
    return 0


def serve_lane(config: AppConfig, host: str, port: int, parent: int) -> None:
    """One more edge process (``Child`` starts it): the same answers on the same port, its
    hits in its own spool lane (``config.core.spool_lane``). It dies with the server."""
    from .worker import die_with, process_logging

    die_with(parent)
    process_logging(f"edge-{config.core.spool_lane}")
    app = bootstrap(config)
    _watch_pipeline(app)
    board = _share_health(app, None)
    edge = build_edge(app)
    lane = config.core.spool_lane
    sock = listen_again(host, port)  # ready: the kernel may hand it connections from now
    try:
        shares: ConnectionShares | None = ConnectionShares(
            config.core.data_dir / CONNECTIONS_FILE, lane
        )
    except OSError as exc:  # the connections are spread as the kernel hashes them
        log.warning("edge process %s: connection counts unavailable (%s)", lane, exc)
        shares = None
    _answering(board, lane)
    log.info("edge process %s answering on port %s", os.getpid(), port)
    try:
        run(edge, sock, config.edge, shares=shares)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if shares is not None:
            shares.close()
        edge.stop()
        app.close()


def _watch_pipeline(app: App) -> None:
    """/healthz reports the worker process's heartbeat and the spool's backlog too."""
    from mailbeacon.bus.local import LocalBus
    from mailbeacon.health import PipelineProbe

    core = app.config.core
    probe = PipelineProbe(
        core.heartbeat_file,
        stall=core.stall_seconds,
        expect_worker=core.worker,
        backlog=app.bus.spool_backlog if isinstance(app.bus, LocalBus) else None,
        clock=app.clock,
    )
    app.health.watch(probe)


def _share_health(app: App, slots: int | None) -> HealthBoard:
    """/healthz says what any edge process last saw when recording, and which have stopped
    answering (``HealthBoard``): made with a slot per process by the server, opened by each
    other process."""
    from mailbeacon.health import HealthBoard

    core = app.config.core
    board = HealthBoard(core.data_dir / HEALTH_FILE, slots)
    app.health.share(board, core.spool_lane, down_after=core.stall_seconds)
    return board


def _answering(board: HealthBoard, lane: int) -> None:
    with contextlib.suppress(OSError):  # a data dir gone read-only: the answers go on
        board.answering(lane, time.time())


def _exited(board: HealthBoard, connections: Path, lane: int, code: int) -> None:
    with contextlib.suppress(OSError):
        board.exited(lane, time.time(), code)
    with contextlib.suppress(OSError):
        mark_down(connections, lane)


class Child:
    """A process of the server's (the worker, an edge lane), started fresh (spawn) so that it
    shares no lock or thread state with this one, and started again if it dies: hits wait
    in the spool meanwhile, so a crashed worker delays processing and a crashed edge process
    drops only its connections; neither loses a recorded hit. ``target`` ("module:function")
    is called with ``args`` and this process's id (it dies with us)."""

    def __init__(
        self,
        name: str,
        target: str,
        args: tuple[Any, ...],
        grace: float,
        gone: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.args = args
        self.grace = grace
        self.gone = gone
        """Told the exit code of each death it is started again after."""
        self.process: Any = None
        self._stop = threading.Event()

    def _spawn(self) -> None:
        import multiprocessing

        self.process = multiprocessing.get_context("spawn").Process(
            target=_child_main,
            args=(self.target, self.args, os.getpid()),
            name=f"mailbeacon-{self.name}",
            daemon=True,
        )
        self.process.start()

    def _watch(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            if self.process.is_alive() or self._stop.is_set():
                delay = 1.0
                continue
            log.error("the %s process exited (%s); starting it again", self.name,
                      self.process.exitcode)  # fmt: skip
            if self.gone is not None:
                self.gone(self.process.exitcode)
            self._spawn()
            if self._stop.is_set():  # the stop began while it started: it was not told
                self.process.terminate()
            delay = min(60.0, delay * 2)
        # Linux kills a child when the *thread* that started it ends (PR_SET_PDEATHSIG): a
        # child started again from here would be killed at once, without its graceful stop.
        self.process.join()

    def start(self) -> Child:
        self._spawn()
        threading.Thread(target=self._watch, daemon=True, name=f"{self.name}-watch").start()
        return self

    def begin_stop(self) -> None:
        """Ask it to finish (SIGTERM, once: the worker its batch, an edge its requests in
        flight)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self.process.is_alive():
            self.process.terminate()

    def stop(self, since: float | None = None) -> None:
        """Stopped within its grace from ``since`` (a ``time.monotonic()``; now when None),
        killed after that (every worker batch is one transaction with its spool cursor: a
        kill loses nothing)."""
        self.begin_stop()
        if not self.process.is_alive():
            return
        deadline = (time.monotonic() if since is None else since) + self.grace
        self.process.join(max(0.0, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)


def _child_main(target: str, args: tuple[Any, ...], parent: int) -> None:
    import importlib

    module, _, name = target.partition(":")
    getattr(importlib.import_module(module), name)(*args, parent)

"""`mailbeacon serve`: the edge on one event loop, the pipeline in a worker process beside it.

The socket is bound first, so the URLs everything is built with name the real port (with
``--port 0`` too), and a port in use is refused before anything is written. Then the App is
bootstrapped, the worker process started and the edge (functions/edge) served by uvicorn
on that socket. SIGTERM (or Ctrl-C) ends live streams at once, lets requests in flight finish
for up to ``MAILBEACON_SHUTDOWN_TIMEOUT`` seconds, stops the worker and exits: threads still
busy then are daemons and cannot hold the process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from mailbeacon.errors import MailbeaconError
from mailbeacon.files import write_private

from .bootstrap import App, bootstrap
from .config import AppConfig
from .edge.serving import BACKLOG, build_edge, run
from .loopback import loopback_host

log = logging.getLogger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket; ``port`` 0 picks a free one. Raises OSError."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
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
    try:
        sock = listen(host, port)
    except OSError as exc:
        return _cannot_start(exc)
    try:
        app, bound, public = _start(config, sock, host)
    except (OSError, ValueError, MailbeaconError) as exc:
        sock.close()
        return _cannot_start(exc)
    _watch_pipeline(app)
    worker = None
    if core.worker:  # the pipeline in its own process; this one only answers
        worker = WorkerProcess(config.with_core(public_url=public)).start()
    else:  # edge only: another process drains the spool
        log.warning("MAILBEACON_WORKER=off: hits are recorded but not processed here")

    if core.insecure_dev_auth:
        banner = "!" * 72
        print(
            f"{banner}\n! LOCAL SIGN-IN (--insecure-dev-auth): on this computer, the dashboard"
            f" signs anyone in\n! as any address and 'Authorization: Bearer dev:<email>' is"
            f" accepted as that user.\n! Requests from any other computer are refused.\n{banner}",
            file=sys.stderr,
            flush=True,
        )
    print(f"Mailbeacon listening on {bound} (public URL {public}, data in {core.data_dir})")
    hint = "  (local sign-in: use the address you track email as)" if core.insecure_dev_auth else ""
    print(f"Dashboard: {bound}/dashboard/{hint}")
    print(
        f"Track a first email: mailbeacon track --data-dir {core.data_dir}"
        " --sender you@example.com --to them@example.com --subject Hello",
        flush=True,
    )
    edge = build_edge(app)
    try:
        run(edge, sock, config.edge, on_exit=worker.begin_stop if worker else None)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if worker is not None:
            worker.stop(timeout=2.0)
        edge.stop()
        app.close()
    return 0


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


class WorkerProcess:
    """The pipeline in its own process (functions/worker.py), started fresh (spawn) so that it
    shares no lock or thread state with the server, and started again if it dies: hits wait
    in the spool meanwhile, so a crashed worker delays processing and loses nothing."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.process: Any = None
        self._stop = threading.Event()

    def _spawn(self) -> None:
        import multiprocessing

        from .worker import run

        self.process = multiprocessing.get_context("spawn").Process(
            target=run, args=(self.config, os.getpid()), name="mailbeacon-worker", daemon=True
        )
        self.process.start()

    def _watch(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            if self.process.is_alive() or self._stop.is_set():
                delay = 1.0
                continue
            log.error("the worker process exited (%s); starting it again", self.process.exitcode)
            self._spawn()
            delay = min(60.0, delay * 2)

    def start(self) -> WorkerProcess:
        self._spawn()
        threading.Thread(target=self._watch, daemon=True, name="worker-watch").start()
        return self

    def begin_stop(self) -> None:
        """Ask it to finish its batch and exit (SIGTERM), while the edge drains."""
        self._stop.set()
        if self.process.is_alive():
            self.process.terminate()

    def stop(self, timeout: float) -> None:
        """Stopped within ``timeout`` seconds, killed after that (every batch is one
        transaction with the spool cursor: a kill loses nothing)."""
        self.begin_stop()
        deadline = time.monotonic() + timeout
        self.process.join(max(0.0, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)

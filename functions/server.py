"""`mailbeacon serve`: every endpoint, the pipeline in a worker process, the embedded store."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from mailbeacon.errors import MailbeaconError
from mailbeacon.files import write_private

from .bootstrap import App, bootstrap
from .config import AppConfig

log = logging.getLogger(__name__)

THREADS = 4
"""Request threads. More made the pixel's tail worse, not better: at concurrency 64 on two
cores, p99/p50 was 1.5 with 2 to 4 threads, 2.7 to 3.7 with 6 and 4 to 6 with 8 or 16 (GIL
contention among busy threads), and throughput was highest with few. Live pages' streams
hold at most two of them (dashboard/live.py), and a connection takes a thread only once it
has sent something, so silent connections cannot hold them."""
BACKLOG = 1024  # pending connections the kernel holds for us; cheroot's default is 5
# The request line and headers together, and a body: cheroot reads no further and answers 413
# (414 for a long request line). Its default, 0, reads a 30 MB header into memory.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20  # the largest add-on event we accept (addon/events.py MAX_BODY)


def make_server(wsgi_app: Any, host: str, port: int, threads: int = THREADS) -> Any:
    """A bound (not yet serving) HTTP server; ``port`` 0 picks a free one.

    cheroot, a thread pool over blocking sockets. waitress was measured twice and lost both
    times: its event loop spun on its channels while pixel handlers waited on their commits
    (about 3 ms of CPU per request), and with today's spool-fast pixel at concurrency 64 it
    gave p99 270-790 ms against cheroot's 57-70 ms (4 threads each).

    The listen backlog is ``BACKLOG``, not cheroot's default of 5: with 5, a burst of new
    connections overflowed it, the kernel dropped their SYNs and the clients retried after
    1 s and 3 s, which is where the pixel's multi-second outliers at concurrency 64 came from.
    """
    server = _server_class()(
        (host, port),
        wsgi_app,
        numthreads=threads,
        server_name="mailbeacon",
        request_queue_size=BACKLOG,  # with 5, a burst of 16 connections saw resets
    )
    server.max_request_header_size = MAX_HEADER_BYTES
    server.max_request_body_size = MAX_BODY_BYTES
    server.prepare()
    return server


@functools.cache
def _server_class() -> Any:
    from cheroot import wsgi

    class Server(wsgi.Server):  # type: ignore[misc]
        """cheroot's server, except that a new connection takes a worker thread only once
        its first bytes have arrived: until then it waits in the selector like an idle
        keep-alive connection (and expires like one). cheroot hands every accepted
        connection to a thread at once, so a few connections that send nothing (a browser's
        preconnect, a port scan, a slowloris) held every thread of a small pool."""

        def process_conn(self, conn: Any) -> None:
            if not conn.rfile.has_data() and not _readable(conn.socket):
                self._connections.put(conn)  # registered with the selector until readable
                return
            super().process_conn(conn)

    return Server


def _readable(sock: Any) -> bool:
    import select

    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _listen_url(host: str, port: int) -> str:
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}"


def _start(
    config: AppConfig, host: str, port: int, threads: int, web: list[Any]
) -> tuple[App, Any, str, str]:
    """Set everything up, then bind: a start that fails (bad secret, corrupt or unwritable
    store, port in use) leaves no process holding the port. Returns (app, server, listen URL,
    public URL)."""
    core = config.core
    public = (core.public_url or _listen_url(host, port)).rstrip("/")
    app = bootstrap(config.with_core(public_url=public))
    try:
        server = make_server(
            lambda environ, start: web[0](environ, start),  # set below, once the URL is known
            host,
            port,
            threads,
        )
    except BaseException:
        app.close()
        raise
    bound = _listen_url(host, server.bind_addr[1])
    if port == 0 and not core.public_url:  # a free port was picked: the URLs must name it
        public = app.urls.base_url = bound  # Urls is shared by everything bootstrap built
        if not core.click_url:
            app.urls.click_url = bound
    try:
        write_private(core.server_file, json.dumps({"public_url": public, "listen": bound}))
    except OSError:
        server.stop()
        app.close()
        raise
    return app, server, bound, public


def serve(config: AppConfig, *, host: str, port: int, threads: int = THREADS) -> int:
    from .app import create_app

    # A server consumes the bus itself (in its worker process); on Pub/Sub that is cluster
    # mode's pull loop.
    config = config.with_core(pull_subscriptions=True)
    core = config.core
    web: list[Any] = []
    try:
        app, server, bound, public = _start(config, host, port, threads, web)
    except (OSError, ValueError, MailbeaconError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        print(f"mailbeacon serve: cannot start: {reason}{where}", file=sys.stderr)
        return 2
    web.append(create_app(app))
    try:
        app.prepare()  # before the first answer: Pub/Sub's topics must exist to publish to
    except MailbeaconError as exc:
        print(f"mailbeacon serve: cannot start: {exc}", file=sys.stderr)
        server.stop()
        app.close()
        return 2
    worker = None
    if core.worker:  # the pipeline in its own process; this one only answers
        worker = WorkerProcess(config.with_core(public_url=public)).start()
    else:  # edge only: another process drains the spool
        log.warning("MAILBEACON_WORKER=off: hits are recorded but not processed here")

    if core.insecure_dev_auth:
        banner = "!" * 72
        print(
            f"{banner}\n! INSECURE DEV AUTH: 'Authorization: Bearer dev:<email>' is accepted as"
            f" that user,\n! and /dashboard/signin signs anyone in as anyone."
            f"\n! Never expose this server to anyone else.\n{banner}",
            file=sys.stderr,
            flush=True,
        )
    print(f"Mailbeacon listening on {bound} (public URL {public}, data in {core.data_dir})")
    print(
        f"Track a first message: mailbeacon track --data-dir {core.data_dir}"
        " --sender you@example.com --to them@example.com --subject Hello",
        flush=True,
    )

    def shutdown(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, shutdown)
    try:
        server.serve()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
        if worker is not None:
            worker.stop()
        app.close()
    return 0


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

    def stop(self) -> None:
        self._stop.set()
        self.process.terminate()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()

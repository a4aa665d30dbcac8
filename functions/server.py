"""`mailbeacon serve`: every endpoint, the pipeline in a worker process, the embedded store."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from dataclasses import replace
from typing import Any

from mailbeacon.bootstrap import bootstrap
from mailbeacon.config import Config

log = logging.getLogger(__name__)

THREADS = 8
BACKLOG = 1024


def make_server(wsgi_app: Any, host: str, port: int, threads: int = THREADS) -> Any:
    """A bound (not yet serving) HTTP server; ``port`` 0 picks a free one.

    cheroot, a thread pool over blocking sockets: waitress's event loop was measured spinning
    on its channels while pixel handlers waited on their commits, costing about 3 ms of CPU
    per request under load (see bench/pixel.py).

    The listen backlog is ``BACKLOG``, not cheroot's default of 5: with 5, a burst of new
    connections overflowed it, the kernel dropped their SYNs and the clients retried after
    1 s and 3 s, which is where the pixel's multi-second outliers at concurrency 64 came from.
    """
    from cheroot import wsgi

    server = wsgi.Server(
        (host, port),
        wsgi_app,
        numthreads=threads,
        server_name="mailbeacon",
        request_queue_size=BACKLOG,
    )
    server.prepare()
    return server


def serve(config: Config, *, host: str, port: int, threads: int = THREADS) -> int:
    from .app import create_app

    config.data_dir.mkdir(parents=True, exist_ok=True)
    server = make_server(
        lambda environ, start: web(environ, start),  # bound below, once the URL is known
        host,
        port,
        threads,
    )
    real_port = server.bind_addr[1]
    bound = f"http://{host if ':' not in host else f'[{host}]'}:{real_port}"
    public = (config.public_url or bound).rstrip("/")
    config.server_file.write_text(json.dumps({"public_url": public, "listen": bound}))
    config = replace(config, public_url=public)
    app = bootstrap(config)
    web = create_app(app)
    worker = None
    if os.environ.get("MAILBEACON_WORKER", "on").lower() != "off":
        worker = start_worker(config)
    else:  # edge only: another process drains the spool
        log.warning("MAILBEACON_WORKER=off: hits are recorded but not processed here")

    if config.insecure_dev_auth:
        banner = "!" * 72
        print(
            f"{banner}\n! INSECURE DEV AUTH: 'Authorization: Bearer dev:<email>' is accepted as"
            f" that user.\n! Never expose this server to anyone else.\n{banner}",
            file=sys.stderr,
            flush=True,
        )
    print(f"Mailbeacon listening on {bound} (public URL {public}, data in {config.data_dir})")
    print(
        f"Track a first message: mailbeacon track --data-dir {config.data_dir}"
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
            worker.terminate()
            worker.join(10)
            if worker.is_alive():
                worker.kill()
        app.close()
    return 0


def start_worker(config: Config) -> Any:
    """The pipeline in its own process (functions/worker.py), started fresh (spawn), so it
    shares no lock or thread state with the server."""
    import multiprocessing

    from .worker import run

    process = multiprocessing.get_context("spawn").Process(
        target=run, args=(config, os.getpid()), name="mailbeacon-worker", daemon=True
    )
    process.start()
    return process

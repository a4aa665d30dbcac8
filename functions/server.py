"""`mailbeacon serve`: every endpoint and the pipeline in one process, on the embedded store."""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import Any

from .bootstrap import bootstrap
from .config import AppConfig

log = logging.getLogger(__name__)

THREADS = 8


def make_server(wsgi_app: Any, host: str, port: int, threads: int = THREADS) -> Any:
    """A bound (not yet serving) HTTP server; ``port`` 0 picks a free one.

    cheroot, a thread pool over blocking sockets: waitress's event loop was measured spinning
    on its channels while pixel handlers waited on their commits, costing about 3 ms of CPU
    per request under load (see bench/pixel.py).
    """
    from cheroot import wsgi

    server = wsgi.Server((host, port), wsgi_app, numthreads=threads, server_name="mailbeacon")
    server.prepare()
    return server


def serve(config: AppConfig, *, host: str, port: int, threads: int = THREADS) -> int:
    from .app import create_app

    core = config.core
    core.data_dir.mkdir(parents=True, exist_ok=True)
    server = make_server(
        lambda environ, start: web(environ, start),  # bound below, once the URL is known
        host,
        port,
        threads,
    )
    real_port = server.bind_addr[1]
    bound = f"http://{host if ':' not in host else f'[{host}]'}:{real_port}"
    public = (core.public_url or bound).rstrip("/")
    core.server_file.write_text(json.dumps({"public_url": public, "listen": bound}))
    app = bootstrap(config.with_core(public_url=public))
    web = create_app(app)
    app.start()

    if core.insecure_dev_auth:
        banner = "!" * 72
        print(
            f"{banner}\n! INSECURE DEV AUTH: 'Authorization: Bearer dev:<email>' is accepted as"
            f" that user.\n! Never expose this server to anyone else.\n{banner}",
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
        app.close()
    return 0

"""`mailbeacon serve`: every endpoint and the pipeline in one process, on the embedded store."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from mailbeacon.bootstrap import App, bootstrap
from mailbeacon.config import Config

log = logging.getLogger(__name__)

THREADS = 8


def _maintain(app: App, stop: threading.Event, every: float = 3600.0) -> None:
    """Enforce retention on the embedded store (Firestore does it with a TTL policy)."""
    while not stop.wait(every):
        try:
            removed = app.store.purge_expired(app.clock.now())
            if removed:
                log.info("retention: removed %s expired events", removed)
        except Exception:
            log.exception("retention sweep failed")


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
    app = bootstrap(replace(config, public_url=public))
    web = create_app(app)
    if os.environ.get("MAILBEACON_WORKER", "on").lower() != "off":
        app.bus.start()  # type: ignore[attr-defined]
    else:  # edge only: another process drains the outbox
        log.warning("MAILBEACON_WORKER=off: hits are recorded but not processed here")
    stop = threading.Event()
    threading.Thread(target=_maintain, args=(app, stop), daemon=True, name="retention").start()
    from notifier.digest import DigestScheduler

    digests = DigestScheduler(
        app.store, app.bus, app.clock, app.notifier.config.digest_hour
    ).start()

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
        stop.set()
        digests.stop()
        app.bus.stop()  # type: ignore[attr-defined]
        app.close()
    return 0

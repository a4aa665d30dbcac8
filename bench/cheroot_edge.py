"""The edge `mailbeacon serve` ran before the event loop, kept for bench/pixel.py's comparison.

cheroot, a pool of 4 threads over blocking sockets (listen backlog 1024; a connection took a
thread once it had sent something), running the Flask app with its WSGI tracking routes in
front, and the same worker process beside it. Not a product path: the bench starts it as
``python bench/cheroot_edge.py PORT DATA_DIR``.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THREADS = 4
BACKLOG = 1024


def server_class() -> Any:
    import select

    from cheroot import wsgi

    class Server(wsgi.Server):  # type: ignore[misc]
        """A new connection takes a worker thread only once its first bytes have arrived."""

        def process_conn(self, conn: Any) -> None:
            poller = select.poll()
            poller.register(conn.socket, select.POLLIN)
            if not conn.rfile.has_data() and not poller.poll(0):
                self._connections.put(conn)
                return
            super().process_conn(conn)

    return Server


def main(port: int, data_dir: str) -> None:
    from functions.app import create_app
    from functions.bootstrap import bootstrap
    from functions.config import load_config
    from functions.server import Child

    public = f"http://127.0.0.1:{port}"
    config = load_config(data_dir=Path(data_dir), public_url=public).with_core(
        pull_subscriptions=True
    )
    app = bootstrap(config)
    server = server_class()(
        ("127.0.0.1", port), create_app(app), numthreads=THREADS, request_queue_size=BACKLOG
    )
    server.max_request_header_size = 64 * 1024
    server.max_request_body_size = 1 << 20
    worker = Child("worker", "functions.worker:run", (config,), grace=2.0).start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    try:
        server.safe_start()
    finally:
        server.stop()
        worker.stop()
        app.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])

"""The pipeline's process: drains the hit spool, classifies, stores and notifies.

`mailbeacon serve` starts it beside the HTTP server. It is a process rather than a thread so
that classification and delivery never hold the edge's GIL, and it runs at a lower CPU
priority so that under load the edge's answers come first and the pipeline catches up
after (the spool holds what it has not reached, durably). It dies with the server: a server
killed with -9 leaves no worker behind to race the next one (their batches would be safe
anyway, each being one transaction with the spool cursor).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import threading

from mailbeacon.log_limits import install_log_limits
from mailbeacon.redact import install_log_redaction

from .config import AppConfig

log = logging.getLogger(__name__)

NICENESS = 19
PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """Ask Linux to kill us when the server goes; elsewhere the poll in ``run`` notices."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server went before prctl took effect
        os._exit(0)


def process_logging(name: str) -> None:
    """Log as the server does (functions/cli), secrets redacted the same way, each line
    naming the process."""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s %(name)s[{name}]: %(message)s"
    )
    install_log_redaction()
    install_log_limits()


WARM_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"


def _warm() -> None:
    """What the first hit would do lazily, done before the priority drops: the user-agent
    rules compile on first use (0.13 s of CPU, which at nice 19 on a busy machine took
    longer than a first alert may wait)."""
    import mailbeacon.pipeline  # noqa: F401
    from mailbeacon.classify.useragent import inspect

    inspect(WARM_USER_AGENT)


def run(config: AppConfig, parent: int) -> None:
    """The worker's main: runs until the server stops it or goes away."""
    die_with(parent)
    process_logging("worker")
    from .bootstrap import bootstrap

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = bootstrap(config)  # its imports at the usual priority: on a busy machine, at the
    # lowest, a start took longer than the first hits may wait
    _warm()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)  # Linux: this thread's, and the threads it starts from here on
    try:
        app.start()  # the bus worker, the digest scheduler, the retention sweep
        while not stop.wait(0.5):
            if os.getppid() != parent:
                log.warning("the server is gone; stopping")
                break
    except KeyboardInterrupt:
        pass
    finally:
        app.close()

"""The edge's limits: deadlines, pool sizes and stream bounds (read by functions.config)."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

MAX_DEFAULT_PROCESSES = 8


@dataclass(frozen=True)
class EdgeConfig:
    """MAILBEACON_EDGE_PROCESSES, MAILBEACON_HEADER_TIMEOUT, _BODY_TIMEOUT, _SHUTDOWN_TIMEOUT,
    _SEND_TIMEOUT, _STREAM_HEARTBEAT (seconds), _WEB_THREADS, _EXPORT_THREADS, _EXPORTS_PER_USER,
    _STREAMS_MAX, _STREAMS_PER_USER."""

    processes: int = 0
    """Edge processes on the one port (0: one per CPU this process may run on, up to
    ``MAX_DEFAULT_PROCESSES``). One event loop answers about 10,000 pixels a second on one
    CPU; more processes share the port's connections (SO_REUSEPORT), each with its own
    spool lane, pools and streams, the limits held across them (``places.py``)."""
    header_timeout: float = 10.0
    """From a connection's start (or its previous answer) to the end of a request's headers;
    also how long an idle keep-alive connection stays open."""
    body_timeout: float = 10.0
    """From the end of the headers to the end of the body."""
    shutdown_timeout: float = 5.0
    """How long SIGTERM waits for requests in flight before the process exits anyway."""
    send_timeout: float = 30.0
    """How long an answer (a CSV, a live stream, pipelined pixels) waits for a client that
    reads nothing before the connection is cut."""
    web_threads: int = 4
    """Threads for the dashboard and the API (each with as many queued requests again)."""
    hook_threads: int = 4
    """Threads for the add-on, Slack, Chat and Gmail's push (Google's and Slack's calls)."""
    export_threads: int = 1
    """Threads for expensive calls (CSV exports, data exports, searches, long pages); no queue.
    One: a thread busy in Python takes the GIL from the loop for up to 5 ms at a time, and
    with two exports running the pixel's p99 under attack went from 43 ms to 73-115 ms."""
    exports_per_user: int = 1
    """Expensive calls one caller may have running at once (more: 429)."""
    streams_max: int = 100
    streams_per_user: int = 3
    stream_heartbeat: float = 15.0
    max_body: int = 1 << 20
    """The largest request body (the largest add-on event, addon/events.py MAX_BODY)."""
    body_budget: int = 64 << 20
    """The bytes of request bodies one edge process holds while reading them (budget.Budget):
    more is 503. Bodies are read before a pool place is taken, so no pool bounds them."""
    aside_budget: int = 256 << 20
    """The bytes of long answers (CSVs, data exports) one edge process holds written aside
    until their clients have read them (budget.Budget): a long answer past it is 503."""

    def edge_processes(self) -> int:
        """How many edge processes ``serve`` runs (1 where the port cannot be shared)."""
        # Elsewhere one socket may take every connection, and a child does not die with the
        # server (PR_SET_PDEATHSIG is Linux's).
        if sys.platform != "linux" or not hasattr(socket, "SO_REUSEPORT"):
            return 1
        if self.processes:
            return self.processes
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, min(MAX_DEFAULT_PROCESSES, cpus or 1))

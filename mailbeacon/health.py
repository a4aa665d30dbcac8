"""Whether hits are recorded and processed, for `/healthz`.

The pixel never fails for the recipient, so failures surface here (and in error logs)
instead: the edge's own (a hit it could not record), and, where the pipeline runs in a
worker process beside the edge (`mailbeacon serve`), the pipeline's, read from the worker's
heartbeat (heartbeat.py) and the hit spool: hits answered but not processed, or a worker
that stopped beating, for longer than the stall threshold turn the answer to 503.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .clock import Clock, SystemClock
from .heartbeat import Beat, read_beat

Backlog = Callable[[Mapping[int, tuple[int, int]] | None], tuple[int, float | None]]
"""Bytes of hits in the spool past each lane's cursor (a lane without one, or None: from its
start), summed over the lanes, and when the oldest of them was answered (epoch seconds; None
when there are none)."""


@dataclass
class PipelineProbe:
    """The pipeline as the edge sees it: the worker's last beat and the spool's backlog."""

    beat_path: Path
    stall: float = 60.0
    """Seconds hits may wait (or beats stop) before `/healthz` says so."""
    expect_worker: bool = True
    """False with MAILBEACON_WORKER=off: no beats are expected here, only a backlog counts."""
    backlog: Backlog | None = None
    """The spool's backlog; None when hits go to Pub/Sub (its own metrics tell)."""
    clock: Clock = field(default_factory=SystemClock)
    cache_seconds: float = 0.5
    """A flood of /healthz reads the files at most this often."""
    started_at: float = 0.0
    _cached: tuple[float, str, dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.started_at = self.started_at or self.clock.now().timestamp()

    def report(self) -> tuple[str, dict[str, Any]]:
        """(the problem, or "" when there is none; the details)."""
        now = self.clock.now().timestamp()
        cached = self._cached
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1], cached[2]
        beat = read_beat(self.beat_path)
        details: dict[str, Any] = {"worker": self._worker(beat, now)}
        problem = self._worker_problem(beat, now)
        if beat is not None:
            details["last_processed_age"] = _age(now, beat.processed_at)
            details["dead_letters"] = beat.dead_letters
            details["alerts_given_up"] = beat.alerts_failed
            if beat.last_alert_failure:
                details["last_alert_given_up"] = beat.last_alert_failure
            if beat.error:
                details["worker_error"] = beat.error
        if self.backlog is not None:
            size, oldest = self.backlog(beat.cursors if beat is not None else None)
            if size and oldest is None:  # its first record is unreadable: since the last batch
                oldest = (beat.processed_at if beat else None) or self.started_at
            waited = _age(now, oldest)
            details["spool"] = {"backlog_bytes": size, "oldest_age": waited}
            if waited is not None and waited > self.stall:
                problem = problem or f"hits answered {waited:.0f} s ago are not processed yet"
        self._cached = (now, problem, details)
        return problem, details

    def _worker(self, beat: Beat | None, now: float) -> dict[str, Any]:
        if not self.expect_worker:
            return {"expected": False}
        if beat is None:
            return {"alive": False}
        age = now - beat.at
        return {"alive": age <= self.stall, "beat_age": round(age, 1), "pid": beat.pid}

    def _worker_problem(self, beat: Beat | None, now: float) -> str:
        if not self.expect_worker:
            return ""
        if beat is None or beat.at < self.started_at:  # nothing from this server's worker
            waiting = now - self.started_at
            return f"the worker has not started in {waiting:.0f} s" if waiting > self.stall else ""
        silent = now - beat.at
        return f"no heartbeat from the worker for {silent:.0f} s" if silent > self.stall else ""


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else round(max(0.0, now - then), 1)


class Health:
    """The last recording failure wins until a later success; the pipeline probe, when there
    is one, adds what the worker is doing. `/healthz` answers from ``report``."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._last_failure: tuple[datetime, str] | None = None
        self._last_success: datetime | None = None
        self.pipeline: PipelineProbe | None = None

    def recorded(self) -> None:
        self._last_success = self.clock.now()

    def failed(self, reason: str) -> None:
        with self._lock:
            self._last_failure = (self.clock.now(), reason)

    def watch(self, pipeline: PipelineProbe) -> None:
        """Report the pipeline too (`mailbeacon serve`: the worker is another process)."""
        self.pipeline = pipeline

    def report(self) -> dict[str, Any]:
        failure, success = self._last_failure, self._last_success
        report: dict[str, Any] = {"status": "ok"}
        if failure and (success is None or failure[0] >= success):
            report = {"status": "degraded", "reason": failure[1]}
        if self.pipeline is not None:
            problem, details = self.pipeline.report()
            report["pipeline"] = details
            if problem and report["status"] == "ok":
                report = {"status": "degraded", "reason": problem, "pipeline": details}
        return report

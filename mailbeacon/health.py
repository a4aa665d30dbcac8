"""Whether hits are recorded and processed, for `/healthz`.

The pixel never fails for the recipient, so failures surface here (and in error logs)
instead: the edge's own (a hit it could not record), and, where the pipeline runs in a
worker process beside the edge (`mailbeacon serve`), the pipeline's, read from the worker's
heartbeat (heartbeat.py) and the hit spool: hits answered but not processed, or a worker
that stopped beating, for longer than the stall threshold turn the answer to 503.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


class HealthBoard:
    """What each edge process last saw when recording hits, readable by all of them.

    `mailbeacon serve` answers from several processes on one port, and any of them may be
    asked for `/healthz`: each writes its last failure and its last success into its own slot
    of a small file mapped into every process's memory. The file is written in full when the
    server starts, so a slot is rewritten in place, in memory: on a full disk too.
    """

    SLOT = struct.Struct("<ddH")
    SLOT_BYTES = 256
    REASON_BYTES = SLOT_BYTES - SLOT.size

    def __init__(self, path: Path, slots: int | None = None) -> None:
        """A new board of ``slots`` (the server, before it starts the others), or the
        board at ``path`` (each other edge process). Raises OSError."""
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if slots else 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            if slots:
                os.write(fd, bytes(slots * self.SLOT_BYTES))
            size = os.fstat(fd).st_size
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.slots = size // self.SLOT_BYTES

    def write(self, slot: int, failure: tuple[float, str] | None, success: float) -> None:
        reason = failure[1].encode()[: self.REASON_BYTES] if failure else b""
        at = failure[0] if failure else 0.0
        offset = slot * self.SLOT_BYTES
        self.SLOT.pack_into(self._map, offset, at, success, len(reason))
        self._map[offset + self.SLOT.size : offset + self.SLOT.size + len(reason)] = reason

    def newest(self) -> tuple[tuple[float, str] | None, float]:
        """(the newest failure of any process, with its reason; the newest success)."""
        failure: tuple[float, str] | None = None
        success = 0.0
        for slot in range(self.slots):
            offset = slot * self.SLOT_BYTES
            at, ok, length = self.SLOT.unpack_from(self._map, offset)
            success = max(success, ok)
            if at and (failure is None or at > failure[0]):
                start = offset + self.SLOT.size
                failure = (at, self._map[start : start + length].decode(errors="replace"))
        return failure, success


class Health:
    """The last recording failure wins until a later success; the pipeline probe, when there
    is one, adds what the worker is doing. `/healthz` answers from ``report``. With a
    ``HealthBoard`` (``share``), "last" is over every edge process of the server: a success
    is published at most once a second unless it follows this process's own failure."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._last_failure: tuple[datetime, str] | None = None
        self._last_success: datetime | None = None
        self.pipeline: PipelineProbe | None = None
        self._board: HealthBoard | None = None
        self._slot = 0
        self._published = 0.0  # the success last written to the board

    def share(self, board: HealthBoard, slot: int) -> None:
        self._board, self._slot = board, slot

    def recorded(self) -> None:
        now = self._last_success = self.clock.now()
        if self._board is not None:
            at = now.timestamp()
            if at - self._published >= 1.0 or self._last_failure is not None:
                self._publish(at)

    def failed(self, reason: str) -> None:
        with self._lock:
            self._last_failure = (self.clock.now(), reason)
        if self._board is not None:
            self._publish(self._published)

    def _publish(self, success: float) -> None:
        with self._lock:
            failure = self._last_failure
            if failure is not None and failure[0].timestamp() < success:
                failure = self._last_failure = None  # a later success: history now
            self._published = success
            board = self._board
            assert board is not None
            board.write(self._slot, (failure[0].timestamp(), failure[1]) if failure else None,
                        success)  # fmt: skip

    def watch(self, pipeline: PipelineProbe) -> None:
        """Report the pipeline too (`mailbeacon serve`: the worker is another process)."""
        self.pipeline = pipeline

    def _recording(self) -> tuple[tuple[datetime, str] | None, datetime | None]:
        if self._board is None:
            return self._last_failure, self._last_success
        failure, success = self._board.newest()
        return (
            (_at(failure[0]), failure[1]) if failure else None,
            _at(success) if success else None,
        )

    def report(self) -> dict[str, Any]:
        failure, success = self._recording()
        report: dict[str, Any] = {"status": "ok"}
        if failure and (success is None or failure[0] >= success):
            report = {"status": "degraded", "reason": failure[1]}
        if self.pipeline is not None:
            problem, details = self.pipeline.report()
            report["pipeline"] = details
            if problem and report["status"] == "ok":
                report = {"status": "degraded", "reason": problem, "pipeline": details}
        return report


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)

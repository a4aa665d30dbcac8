"""Whether hits are recorded and processed, for `/healthz`.

The pixel never fails for the recipient, so failures surface here (and in error logs)
instead: the edge's own (a hit it could not record), and, where the pipeline runs in a
worker process beside the edge (`mailbeacon serve`), the pipeline's, read from the worker's
heartbeat (heartbeat.py) and the hit spool: hits answered but not processed, or a worker
that stopped beating, for longer than the stall threshold turn the answer to 503.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .clock import Clock, SystemClock
from .files import replace_private
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


FAILURE_HOLD = 10.0
"""Seconds another edge process's recording failure still counts after others recorded."""


class HealthBoard:
    """What each edge process last saw when recording hits, readable by all of them.

    `mailbeacon serve` answers from several processes on one port, and any of them may be
    asked for `/healthz`: each writes the time of its last failure (and the reason) and of
    its last success that followed someone's failure into its own slot of a small file, and
    all read it through a read-only mapping (a pixel checks for a failure anywhere without a
    system call). The file is written in full when the server starts, so a slot is rewritten
    in place, a full disk allowing it; a data dir turned read-only refuses the write (an
    OSError, which ``Health`` survives), where a writable mapping would have killed the
    process (SIGBUS).

    The server also keeps each process's life there: when it last began answering (written
    by the process) and, once the server saw it exit, since when it has been down, its exit
    code and how often it was started again (written by the server): a process that dies at
    every start leaves the others answering, and only the board can tell `/healthz` so.

    Layout: each slot's (failure time, success time) as doubles, then each slot's reason,
    then each slot's life.
    """

    REASON_BYTES = 254
    _LENGTH = struct.Struct("<H")
    _LIFE = struct.Struct("<ddii")  # answering since, down since, last exit code, restarts
    SLOT_BYTES = 16 + 2 + REASON_BYTES + _LIFE.size

    def __init__(self, path: Path, slots: int | None = None) -> None:
        """A new board of ``slots`` (the server, before it starts the others), or the
        board at ``path`` (each other edge process). Raises OSError."""
        if slots:
            replace_private(path, bytes(slots * self.SLOT_BYTES))
        self._fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        try:
            size = os.fstat(self._fd).st_size
            self.slots = size // self.SLOT_BYTES
            self._times = struct.Struct(f"<{2 * self.slots}d")
            self._map = mmap.mmap(self._fd, size, prot=mmap.PROT_READ)
        except BaseException:
            os.close(self._fd)
            raise

    def _reason_at(self, slot: int) -> int:
        return self._times.size + slot * (2 + self.REASON_BYTES)

    def write(self, slot: int, failure: tuple[float, str] | None, success: float) -> None:
        """Raises OSError."""
        if failure:  # the reason before the time that points readers to it
            reason = failure[1].encode()[: self.REASON_BYTES]
            os.pwrite(self._fd, self._LENGTH.pack(len(reason)) + reason, self._reason_at(slot))
        os.pwrite(self._fd, struct.pack("<dd", failure[0] if failure else 0.0, success), 16 * slot)

    def _life_at(self, slot: int) -> int:
        return self._reason_at(self.slots) + slot * self._LIFE.size  # after the reasons

    def answering(self, slot: int, at: float) -> None:
        """The process of ``slot`` answers from ``at`` on. Raises OSError."""
        os.pwrite(self._fd, struct.pack("<d", at), self._life_at(slot))

    def exited(self, slot: int, at: float, code: int) -> None:
        """The server saw the process of ``slot`` gone at ``at`` (its first exit since it last
        answered starts the time it is down). Raises OSError."""
        since, down, _, restarts = self._LIFE.unpack_from(self._map, self._life_at(slot))
        down = down if down > since else at
        os.pwrite(self._fd, self._LIFE.pack(since, down, code, restarts + 1), self._life_at(slot))

    def lives(self) -> list[tuple[float, float, int, int]]:
        """Each process's (answering since, down since, last exit code, times started again);
        down when the second is later than the first."""
        return [self._LIFE.unpack_from(self._map, self._life_at(s)) for s in range(self.slots)]

    def newest_failure(self) -> float:
        """When any process last failed (epoch seconds; 0.0: none since the start)."""
        return max(self._times.unpack_from(self._map, 0)[0::2])

    def slots_seen(self) -> list[tuple[float, float, str]]:
        """Each process's (last failure, last published success, the failure's reason);
        times in epoch seconds, 0.0 for none."""
        times = self._times.unpack_from(self._map, 0)
        seen = []
        for slot in range(self.slots):
            failure, success = times[2 * slot], times[2 * slot + 1]
            reason = ""
            if failure:
                start = self._reason_at(slot)
                (length,) = self._LENGTH.unpack_from(self._map, start)
                raw = self._map[start + 2 : start + 2 + min(length, self.REASON_BYTES)]
                reason = raw.decode(errors="replace")
            seen.append((failure, success, reason))
        return seen

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class Health:
    """The last recording failure wins until a later success; the pipeline probe, when there
    is one, adds what the worker is doing. `/healthz` answers from ``report``. With a
    ``HealthBoard`` (``share``), every edge process of the server counts: a process publishes
    its failures, and its successes while a failure anywhere is newer than its last published
    success (otherwise nobody needs them: a pixel pays one memory read)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._last_failure: tuple[datetime, str] | None = None
        self._last_success: datetime | None = None
        self.pipeline: PipelineProbe | None = None
        self._board: HealthBoard | None = None
        self._slot = 0
        self._published = 0.0  # the success last written to the board
        self._down_after = 60.0

    def share(self, board: HealthBoard, slot: int, *, down_after: float = 60.0) -> None:
        """Count every edge process on ``board``; this one's is ``slot``. An edge process
        down longer than ``down_after`` seconds is a problem."""
        self._board, self._slot, self._down_after = board, slot, down_after

    def recorded(self) -> None:
        now = self._last_success = self.clock.now()
        board = self._board
        if board is not None and (
            self._last_failure is not None or board.newest_failure() > self._published
        ):
            self._publish(now.timestamp())

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
            shared = (failure[0].timestamp(), failure[1]) if failure else None
            # a data dir gone read-only refuses it: this process's own view still counts
            with contextlib.suppress(OSError):
                board.write(self._slot, shared, success)

    def watch(self, pipeline: PipelineProbe) -> None:
        """Report the pipeline too (`mailbeacon serve`: the worker is another process)."""
        self.pipeline = pipeline

    def _recording_problem(self) -> str:
        """Why recording fails, or "": a process's last failure counts until that process
        records again, or until others have recorded since and FAILURE_HOLD has passed (a
        process the kernel sends no more connections to cannot clear its own; one that
        fails on every hit keeps its failure fresh)."""
        failure, success = self._last_failure, self._last_success
        own = (
            failure[0].timestamp() if failure else 0.0,
            success.timestamp() if success else 0.0,
            failure[1] if failure else "",
        )
        if self._board is None:
            seen = [own]
        else:
            seen = self._board.slots_seen()
            shared = seen[self._slot] if self._slot < len(seen) else (0.0, 0.0, "")
            seen[self._slot : self._slot + 1] = [
                (max(own[0], shared[0]), max(own[1], shared[1]), own[2] or shared[2])
            ]
        newest_success = max(ok for _, ok, _ in seen)
        now = self.clock.now().timestamp()
        problem, newest = "", 0.0
        for failed_at, ok, reason in seen:
            if not failed_at or failed_at < ok:
                continue
            if newest_success > failed_at and now - failed_at >= FAILURE_HOLD:
                continue  # recorded elsewhere since, and long ago: that process is idle
            if failed_at > newest:
                problem, newest = reason, failed_at
        return problem

    def _edge_processes(self) -> tuple[str, dict[str, Any] | None]:
        """(the problem, or ""; how many edge processes answer of how many), when there are
        several: one that exits at every start leaves the others answering, but not for long
        unnoticed."""
        board = self._board
        if board is None or board.slots < 2:
            return "", None
        now = self.clock.now().timestamp()
        lives = board.lives()
        down = [(slot, life) for slot, life in enumerate(lives) if life[1] > life[0]]
        problem = ""
        for slot, (_, since, code, restarts) in down:
            if now - since > self._down_after:
                problem = (
                    f"edge process {slot} has not answered for {now - since:.0f} s (it exited"
                    f" with code {code}; started again {restarts} times)"
                )
                break
        return problem, {"expected": board.slots, "answering": board.slots - len(down)}

    def report(self) -> dict[str, Any]:
        problem = self._recording_problem()
        report: dict[str, Any] = {"status": "ok"}
        if problem:
            report = {"status": "degraded", "reason": problem}
        processes_problem, processes = self._edge_processes()
        if processes is not None:
            report["edge_processes"] = processes
            if processes_problem and report["status"] == "ok":
                report = {
                    "status": "degraded",
                    "reason": processes_problem,
                    "edge_processes": processes,
                }
        if self.pipeline is not None:
            problem, details = self.pipeline.report()
            report["pipeline"] = details
            if problem and report["status"] == "ok":
                report = {"status": "degraded", "reason": problem, "pipeline": details}
        return report

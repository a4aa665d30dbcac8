"""The pipeline's heartbeat: the worker process says what it is doing, the edge reads it.

`mailbeacon serve` answers hits in one process and processes them in another, so the edge's
own health says nothing about the pipeline: a worker that crash-loops (a read-only data dir)
or stalls (a corrupt spool) used to leave `/healthz` at "ok" while nothing was processed.
Every ``interval`` seconds the worker rewrites a small JSON file in the data dir (written
aside and renamed into place: a reader sees one whole beat or the previous one). The edge
reads it when asked, with the spool's size past the beat's cursors, and answers 503 once
hits have waited, or the beats stopped, for longer than the stall threshold. A worker that
cannot write its data dir cannot beat either, which is the point.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .clock import Clock, SystemClock

log = logging.getLogger(__name__)

BEAT_FILE = "worker.json"


@dataclass(frozen=True)
class Beat:
    """One heartbeat: times are epoch seconds."""

    pid: int
    at: float
    started_at: float
    cursor: tuple[int, int] | None = None
    """Lane 0's spool cursor (segment, offset) the worker last committed; None off the spool
    (written for readers from before lanes, which knew only this one)."""
    cursors: dict[int, tuple[int, int]] | None = None
    """Every lane's committed cursor, by lane; None off the spool. A beat from before lanes
    reads as its one cursor for lane 0."""
    processed_at: float | None = None
    """When a batch of hits was last stored."""
    dead_letters: int = 0
    alerts_failed: int = 0
    """Alerts given up (permanent failures and transient ones past the retry horizon)."""
    last_alert_failure: str = ""
    error: str = ""

    @classmethod
    def from_json(cls, text: str) -> Beat | None:
        try:
            data = json.loads(text)
            cursor = _position(data.get("cursor"))
            lanes = data.get("cursors")
            cursors: dict[int, tuple[int, int]] | None = None
            if lanes is not None:
                cursors = {int(k): (int(at[0]), int(at[1])) for k, at in lanes.items() if at}
            elif cursor is not None:  # a worker from before lanes: its one cursor is lane 0's
                cursors = {0: cursor}
            return cls(
                pid=int(data["pid"]),
                at=float(data["at"]),
                started_at=float(data["started_at"]),
                cursor=cursor,
                cursors=cursors,
                processed_at=_optional(data.get("processed_at")),
                dead_letters=int(data.get("dead_letters", 0)),
                alerts_failed=int(data.get("alerts_failed", 0)),
                last_alert_failure=str(data.get("last_alert_failure", "")),
                error=str(data.get("error", "")),
            )
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None


def _position(value: Any) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value else None


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def read_beat(path: Path) -> Beat | None:
    """The last beat written at ``path``, or None (no worker has beaten there yet)."""
    try:
        return Beat.from_json(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None


def write_beat(path: Path, beat: Beat) -> None:
    """Replace the beat at ``path`` in one rename. Raises OSError (a read-only data dir)."""
    # one aside file per writer: the beat thread and an alert given up may write at once
    aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    aside.write_text(json.dumps(asdict(beat), separators=(",", ":")))
    os.replace(aside, path)


Progress = Callable[[], dict[str, Any]]
"""What the bus reports: ``cursor``, ``cursors`` (by lane), ``processed_at``,
``dead_letters``, ``error``."""


@dataclass
class Heartbeat:
    """The worker's side: a thread that writes a beat every ``interval`` seconds."""

    path: Path
    progress: Progress
    interval: float = 2.0
    clock: Clock = field(default_factory=SystemClock)
    _failed: int = 0
    _last_failure: str = ""
    _started: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def alert_failed(self, key: str, detail: str) -> None:
        """The notifier gave an alert up (``key`` names the alert and its channel)."""
        with self._lock:
            self._failed += 1
            self._last_failure = f"{_iso(self.clock.now().timestamp())} {key}: {detail}"[:400]

    def beat(self) -> Beat:
        """Write one beat now (the thread calls this); returns it."""
        error = ""
        try:
            progress = self.progress()
        except Exception as exc:  # the store is down: that is what the beat reports
            progress, error = {}, f"{type(exc).__name__}: {exc}"[:300]
        with self._lock:
            failed, last = self._failed, self._last_failure
        cursor, lanes = progress.get("cursor"), progress.get("cursors")
        made = Beat(
            pid=os.getpid(),
            at=self.clock.now().timestamp(),
            started_at=self._started,
            cursor=tuple(cursor) if cursor else None,  # type: ignore[arg-type]
            cursors=(
                {int(lane): tuple(at) for lane, at in lanes.items()}  # type: ignore[misc]
                if lanes is not None
                else None
            ),
            processed_at=progress.get("processed_at"),
            dead_letters=int(progress.get("dead_letters") or 0),
            alerts_failed=failed,
            last_alert_failure=last,
            error=error or str(progress.get("error") or ""),
        )
        write_beat(self.path, made)
        return made

    def start(self) -> None:
        previous = read_beat(self.path)  # counts of given-up alerts survive a restart
        if previous is not None:
            self._failed, self._last_failure = previous.alerts_failed, previous.last_alert_failure
        self._started = self.clock.now().timestamp()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; the last beat written holds the final counts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 1)
            self._thread = None
            with contextlib.suppress(OSError):
                self.beat()

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except OSError as exc:  # cannot write the data dir: the edge will see no beat
                log.error("heartbeat not written: %s", exc)
            if self._stop.wait(self.interval):
                return


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))

"""Spool lanes: one writer per lane, one worker drains them all, each lane from its own cursor."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailbeacon.bus import HITS
from mailbeacon.bus.local import LocalBus, cursor_name
from mailbeacon.bus.spool import (
    HEADER,
    MAGIC,
    TORN_SECONDS,
    SpoolWriter,
    lane_dir,
    lanes,
    segment_path,
    segments,
)
from mailbeacon.clock import FixedClock, parse_time
from mailbeacon.health import PipelineProbe
from mailbeacon.heartbeat import Heartbeat
from mailbeacon.store.sqlite import Database
from tests.support.processes import wait_until

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from pathlib import Path
from mailbeacon.bus import HITS
from mailbeacon.bus.local import LocalBus
from mailbeacon.store.sqlite import Database
from tests.support.processes import wait_until
data, lane, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
bus = LocalBus(Database(data / "mb.db"), lane=lane)
for n in range(count):
    bus.publish(HITS, {"lane": lane, "n": n})
bus.stop()
"""
"""An edge process: its own LocalBus on its own lane, appending hits as fast as it can."""


def collect(bus: LocalBus) -> list[tuple[int, int]]:
    """Subscribe ``bus`` to hits; returns the list each processed hit is appended to."""
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def handle(payload: dict[str, Any]) -> None:
        with lock:
            seen.append((payload["lane"], payload["n"]))

    bus.subscribe(HITS, handle)
    return seen


def store(bus: LocalBus) -> Callable[[], list[tuple[int, int]]]:
    """Subscribe ``bus`` to hits, stored in the batch's own transaction (a batch rolled back,
    when another process wrote meanwhile, is retried, and must not count twice); returns
    what is stored, in order."""
    db = bus.db
    with db.write() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS seen (lane INTEGER, n INTEGER)")

    def handle(payload: dict[str, Any]) -> None:
        with db.write() as conn:  # joins the batch's transaction
            conn.execute("INSERT INTO seen VALUES (?, ?)", (payload["lane"], payload["n"]))

    bus.subscribe(HITS, handle)
    return lambda: [(r[0], r[1]) for r in db.read("SELECT lane, n FROM seen ORDER BY rowid")]


def small(bus: LocalBus, lane: int) -> LocalBus:
    """``bus`` writing to ``lane`` in segments of a few records (rotation, removal)."""
    root = bus.spool_dir if lane else None
    bus._writer = SpoolWriter(lane_dir(bus.spool_dir, lane), segment_bytes=200, root=root)
    return bus


def test_lanes_are_the_spool_directory_and_its_lane_directories(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    assert lanes(spool) == [0] and lane_dir(spool, 0) == spool
    for name in ("lane-2", "lane-10", "lane-01", "lane-x", "lane-0", "other"):
        (spool / name).mkdir(parents=True)
    (spool / "lane-3").write_text("a file, not a lane")
    assert lanes(spool) == [0, 2, 10] and lane_dir(spool, 10) == spool / "lane-10"
    assert cursor_name(0) == "hits" and cursor_name(10) == "hits/lane-10"


def test_a_lane_writer_makes_its_directories_private(tmp_path: Path) -> None:
    bus = LocalBus(Database(tmp_path / "mb.db"), spool_dir=tmp_path / "new" / "spool", lane=4)
    bus.publish(HITS, {"lane": 4, "n": 0})
    bus.stop()
    for directory in (tmp_path / "new" / "spool", tmp_path / "new" / "spool" / "lane-4"):
        assert directory.stat().st_mode & 0o777 == 0o700
    assert segments(tmp_path / "new" / "spool") == [] and segments(lane_dir(bus.spool_dir, 4))


def test_two_processes_append_to_their_lanes_while_one_worker_drains_both(
    tmp_path: Path,
) -> None:
    """Two real writer processes, concurrently, and the worker already running before their
    lane directories exist: every hit processed exactly once, each lane in its order."""
    count = 3000
    worker = LocalBus(Database(tmp_path / "mb.db"), batch=50)
    stored = store(worker)
    worker.start()
    try:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(tmp_path), str(lane), str(count)],
                cwd=ROOT,
                env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            )
            for lane in (0, 1)
        ]
        for writer in writers:
            assert writer.wait(60) == 0
        wait_until(lambda: len(stored()) >= 2 * count, timeout=30)
    finally:
        worker.stop()  # joined: anything processed twice is stored by now
    seen = stored()
    assert Counter(seen).most_common(1)[0][1] == 1
    assert sorted(seen) == [(lane, n) for lane in (0, 1) for n in range(count)]
    for lane in (0, 1):
        assert [n for at, n in seen if at == lane] == list(range(count))
    assert (tmp_path / "spool" / "lane-1").is_dir() and set(worker.cursors()) == {0, 1}
    assert worker.pending(HITS) == 0


def test_a_restart_resumes_each_lane_from_its_own_cursor(tmp_path: Path) -> None:
    db = Database(tmp_path / "mb.db")
    first = LocalBus(db, batch=7)
    edges = [small(LocalBus(db, lane=lane), lane) for lane in (0, 1)]
    for n in range(30):
        for lane, edge in enumerate(edges):
            edge.publish(HITS, {"lane": lane, "n": n})
    seen = collect(first)
    for _ in range(3):  # three batches: the lanes take turns
        assert first._drain_spool() == 7
    assert [lane for lane, _ in seen] == [0] * 7 + [1] * 7 + [0] * 7
    again = LocalBus(Database(tmp_path / "mb.db"), batch=7)
    seen_again = collect(again)
    assert again.drain() == 60 - 21
    assert sorted(seen + seen_again) == [(lane, n) for lane in (0, 1) for n in range(30)]
    assert again.cursors().keys() == {0, 1}
    rows = dict((r[0], r[1:]) for r in db.read("SELECT name, segment, offset FROM bus_cursor"))
    assert rows.keys() == {"hits", "hits/lane-1"}
    for lane in (0, 1):  # consumed segments go, lane by lane: only the one being written stays
        assert len(segments(lane_dir(first.spool_dir, lane))) == 1
    assert again.drain() == 0 and again.pending(HITS) == 0


def test_a_lane_that_appears_after_the_worker_started_is_drained(tmp_path: Path) -> None:
    db = Database(tmp_path / "mb.db")
    worker = LocalBus(db)
    stored = store(worker)
    LocalBus(db).publish(HITS, {"lane": 0, "n": 0})
    late = LocalBus(db, lane=3)  # a process of a `serve` started with more CPUs
    worker.start()
    try:
        wait_until(lambda: stored() == [(0, 0)])
        assert lanes(worker.spool_dir) == [0]  # lane 3's directory comes with its first hit
        late.publish(HITS, {"lane": 3, "n": 0})
        wait_until(lambda: len(stored()) == 2)
    finally:
        worker.stop()
        late.stop()
    assert stored() == [(0, 0), (3, 0)] and worker.pending(HITS) == 0


def test_pending_and_pending_hits_count_every_lane(tmp_path: Path) -> None:
    db = Database(tmp_path / "mb.db")
    for lane, minute in ((0, 2), (2, 1), (0, 3), (2, 4)):
        LocalBus(db, lane=lane).publish(
            HITS,
            {"lane": lane, "n": minute, "message_id": "m", "at": f"2026-01-05T09:0{minute}:00Z"},
        )
    LocalBus(db, lane=2).publish(HITS, {"lane": 2, "n": 9, "message_id": "other"})
    bus = LocalBus(db)
    assert bus.pending(HITS) == 5 and len(bus.pending_hits()) == 5
    assert [p["n"] for p in bus.pending_hits("m")] == [1, 2, 3, 4]  # oldest first, over lanes
    seen = collect(bus)
    assert bus.drain() == 5 and len(seen) == 5
    assert bus.pending(HITS) == 0 and bus.pending_hits() == []


def test_a_torn_frame_in_one_lane_does_not_stall_the_others(tmp_path: Path) -> None:
    db = Database(tmp_path / "mb.db")
    broken = LocalBus(db, lane=1)
    for n in range(3):
        broken.publish(HITS, {"lane": 1, "n": n})
    path = segment_path(lane_dir(broken.spool_dir, 1), 1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a corrupt record in the middle
    path.write_bytes(bytes(data) + HEADER.pack(MAGIC, 60_000, 0) + b"junk")  # and a torn tail
    healthy = LocalBus(db)
    for n in range(20):
        healthy.publish(HITS, {"lane": 0, "n": n})
    worker = LocalBus(db, batch=5)
    seen = collect(worker)
    assert worker.drain() > 0
    assert [n for lane, n in seen if lane == 0] == list(range(20))
    assert [n for lane, n in seen if lane == 1] == [0, 2]  # the corrupt one skipped
    assert worker.pending(HITS) == 0  # the torn tail holds no record, and no other lane
    broken.publish(HITS, {"lane": 1, "n": 3})  # a whole frame after it: the tail was torn
    assert worker.drain() == 1 and seen[-1] == (1, 3)


def test_a_corrupt_header_in_a_lane_nobody_writes_to_any_more_is_skipped(
    tmp_path: Path, caplog: Any
) -> None:
    """The hits after it go to other lanes (the kernel chose other edge processes): nothing
    moves in this lane, and its tail is still known to be torn once it is old enough."""
    db = Database(tmp_path / "mb.db")
    quiet = LocalBus(db, lane=1)
    quiet.publish(HITS, {"lane": 1, "n": 0})
    worker = LocalBus(db)
    stored = store(worker)
    worker.start()
    try:
        wait_until(lambda: stored() == [(1, 0)])
        path = segment_path(
            lane_dir(worker.spool_dir, 1), segments(lane_dir(worker.spool_dir, 1))[-1]
        )
        with path.open("ab") as segment:
            segment.write(HEADER.pack(MAGIC, 60_000, 0) + b"garbage")
        LocalBus(db).publish(HITS, {"lane": 0, "n": 0})  # the next hit, in another lane
        wait_until(lambda: len(stored()) == 2)
        wait_until(lambda: "ends in a torn record" in caplog.text, timeout=TORN_SECONDS + 5)

        def skipped() -> bool:  # (the skip is logged as it is read, saved with the batch after)
            cursors = {n: (p.segment, p.offset) for n, p in worker.cursors().items()}
            return worker.pending(HITS) == 0 and worker.spool_backlog(cursors) == (0, None)

        wait_until(skipped, timeout=5)
    finally:
        worker.stop()
        quiet.stop()


def test_hits_in_two_lanes_are_taken_in_the_order_they_were_answered(tmp_path: Path) -> None:
    """An open and its click, answered by two edge processes: the open is processed first,
    whatever the lanes' turn."""
    db = Database(tmp_path / "mb.db")
    LocalBus(db, lane=1).publish(HITS, {"lane": 1, "n": 0, "at": "2026-01-05T09:00:00.100Z"})
    LocalBus(db, lane=0).publish(HITS, {"lane": 0, "n": 0, "at": "2026-01-05T09:00:00.105Z"})
    LocalBus(db, lane=1).publish(HITS, {"lane": 1, "n": 1, "at": "2026-01-05T09:00:00.110Z"})
    worker = LocalBus(db)
    seen = collect(worker)
    assert worker.drain() == 3
    assert seen == [(1, 0), (0, 0), (1, 1)]


def test_the_heartbeat_and_the_backlog_cover_every_lane(tmp_path: Path) -> None:
    db = Database(tmp_path / "mb.db")
    edges = {lane: LocalBus(db, lane=lane) for lane in (0, 5)}
    for lane, at in ((0, "2026-01-05T09:00:30Z"), (5, "2026-01-05T09:00:10Z")):
        for n in range(4):
            edges[lane].publish(HITS, {"lane": lane, "n": n, "at": at})
    worker = LocalBus(db, batch=4)
    seen = collect(worker)
    clock = FixedClock(parse_time("2026-01-05T09:01:30Z"))
    beat = Heartbeat(tmp_path / "worker.json", worker.progress, clock=clock)
    probe = PipelineProbe(
        tmp_path / "worker.json",
        stall=60,
        backlog=worker.spool_backlog,
        clock=clock,
        cache_seconds=0,
    )
    everything = sum(
        segment_path(lane_dir(worker.spool_dir, lane), 1).stat().st_size for lane in (0, 5)
    )
    beat.beat()
    problem, details = probe.report()
    assert details["spool"] == {"backlog_bytes": everything, "oldest_age": 80.0}  # lane 5's
    assert "80 s ago" in problem
    assert worker._drain_spool() == 4 and {lane for lane, _ in seen} == {5}  # the oldest first
    made = beat.beat()
    assert made.cursors is not None and set(made.cursors) == {5}
    problem, details = probe.report()
    assert 0 < details["spool"]["backlog_bytes"] < everything
    assert details["spool"]["oldest_age"] == 60.0  # lane 0's hits wait now
    assert worker._drain_spool() == 4  # then lane 0's
    made = beat.beat()
    assert made.cursors is not None and set(made.cursors) == {0, 5}
    problem, details = probe.report()
    assert problem == "" and details["spool"] == {"backlog_bytes": 0, "oldest_age": None}
    assert json.loads((tmp_path / "worker.json").read_text())["cursors"].keys() == {"0", "5"}


def test_the_core_configs_lane_is_the_buss_lane(tmp_path: Path) -> None:
    """`serve` gives each edge process ``with_core(spool_lane=k)``; bootstrap passes it on."""
    from functions.bootstrap import bootstrap
    from functions.config import AppConfig

    app = bootstrap(AppConfig.local(tmp_path / "data").with_core(spool_lane=2))
    try:
        assert isinstance(app.bus, LocalBus) and app.bus.lane == 2
        app.bus.publish(HITS, {"lane": 2, "n": 0})
        assert segments(tmp_path / "data" / "spool" / "lane-2") == [1]
        assert segments(tmp_path / "data" / "spool") == []
    finally:
        app.close()

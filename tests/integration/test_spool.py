"""The hit spool and its drain: framed records, torn writes, one transaction per batch."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mailbeacon.bus import HITS
from mailbeacon.bus.local import LocalBus
from mailbeacon.bus.spool import (
    HEADER,
    MAGIC,
    TORN_SECONDS,
    Position,
    SpoolWriter,
    backlog,
    iter_pending,
    read,
    segment_path,
)
from mailbeacon.store.sqlite import Database


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(r) for r in iter_pending(directory, Position(0, 0))]


def test_a_torn_record_is_dropped_with_a_warning_and_later_records_are_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = SpoolWriter(tmp_path)
    for n in range(3):
        writer.append(json.dumps({"n": n}).encode())
    writer.close()
    path = segment_path(tmp_path, 1)
    path.write_bytes(path.read_bytes()[:-5])  # the last write torn by a crash
    restarted = SpoolWriter(tmp_path)  # a new process: a new segment
    restarted.append(json.dumps({"n": 3}).encode())
    with caplog.at_level(logging.WARNING):
        assert records(tmp_path) == [{"n": 0}, {"n": 1}, {"n": 3}]
    assert "torn record" in caplog.text


def test_an_incomplete_frame_in_the_newest_segment_waits_for_its_writer(tmp_path: Path) -> None:
    SpoolWriter(tmp_path).append(b'{"n":0}')
    path = segment_path(tmp_path, 1)
    whole = path.read_bytes()
    path.write_bytes(whole + whole[:6])  # a second write, half visible
    batch = read(tmp_path, Position(0, 0))
    assert [json.loads(r) for r in batch.records] == [{"n": 0}]
    assert batch.end == Position(1, len(whole)) and batch.finished == []


@pytest.mark.parametrize("claimed", [60_000, 65_536, 1_000])
def test_a_fake_length_in_the_newest_segment_is_skipped_once_a_whole_frame_follows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, claimed: int
) -> None:
    """A header claiming more bytes than follow used to hold the reader until that many
    bytes of later hits had arrived: a real write in progress is always the last frame."""
    writer = SpoolWriter(tmp_path)
    writer.append(b'{"n":0}')
    path = segment_path(tmp_path, 1)
    with path.open("ab") as segment:
        segment.write(HEADER.pack(MAGIC, claimed, 0) + b"junk")
    assert records(tmp_path) == [{"n": 0}]  # nothing after it yet: it may be in progress
    for n in (1, 2):
        writer.append(json.dumps({"n": n}).encode())
    with caplog.at_level(logging.WARNING):
        assert records(tmp_path) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert f"claims {claimed} bytes" in caplog.text


def test_an_incomplete_frame_at_the_end_of_an_untouched_newest_segment_is_torn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SpoolWriter(tmp_path).append(b'{"n":0}')
    path = segment_path(tmp_path, 1)
    whole = path.read_bytes()
    path.write_bytes(whole + whole[:6])
    assert read(tmp_path, Position(0, 0)).end == Position(1, len(whole))  # just written: waits
    stale = time.time() - TORN_SECONDS - 1
    os.utime(path, (stale, stale))  # nobody wrote to it since: no write can be finishing it
    with caplog.at_level(logging.WARNING):
        batch = read(tmp_path, Position(1, len(whole)))
    assert batch.records == [] and batch.end == Position(1, len(whole) + 6)
    assert "torn record" in caplog.text


def test_the_backlog_is_measured_from_the_cursor_without_reading_the_spool(
    tmp_path: Path,
) -> None:
    writer = SpoolWriter(tmp_path, segment_bytes=200)  # a new segment every few records
    for n in range(10):
        writer.append(json.dumps({"n": n, "at": f"2026-01-05T09:00:0{n}Z"}).encode())
    everything, first = backlog(tmp_path, None)
    assert json.loads(first or b"") == {"n": 0, "at": "2026-01-05T09:00:00Z"}
    batch = read(tmp_path, Position(0, 0), max_records=4)
    waiting, first = backlog(tmp_path, batch.end)
    assert json.loads(first or b"")["n"] == 4
    assert 0 < waiting < everything
    done = read(tmp_path, Position(0, 0), max_records=100).end
    assert backlog(tmp_path, done) == (0, None)


def test_corrupt_bytes_mid_segment_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = SpoolWriter(tmp_path)
    for n in range(3):
        writer.append(json.dumps({"n": n}).encode())
    path = segment_path(tmp_path, 1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip a byte inside the second record
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert records(tmp_path) == [{"n": 0}, {"n": 2}]
    assert "corrupt" in caplog.text


def test_group_commit_writes_every_record_whole(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, sync=True, segment_bytes=4096)  # small: rotates under load

    def write(base: int) -> None:
        for n in range(base, base + 200):
            writer.append(json.dumps({"n": n, "pad": "x" * (n % 50)}).encode())

    threads = [threading.Thread(target=write, args=(i * 1000,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sorted(r["n"] for r in records(tmp_path))
    assert got == sorted(i * 1000 + n for i in range(8) for n in range(200))


def test_each_hit_is_delivered_once_across_restarts_and_consumed_segments_go(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "mb.db")
    bus = LocalBus(db, batch=7)
    bus._writer = SpoolWriter(bus.spool_dir, segment_bytes=200)  # many small segments
    for n in range(50):
        bus.publish(HITS, {"n": n})
    seen: list[int] = []
    bus.subscribe(HITS, lambda p: seen.append(p["n"]))
    assert bus.drain() == 50
    assert seen == list(range(50))
    assert len(list(bus.spool_dir.iterdir())) == 1  # only the segment still being written
    again = LocalBus(Database(tmp_path / "mb.db"))
    again.subscribe(HITS, lambda p: seen.append(p["n"]))
    assert again.drain() == 0 and len(seen) == 50 and again.pending(HITS) == 0


def test_a_failing_batch_commits_nothing_of_it_then_goes_one_by_one(tmp_path: Path) -> None:
    db = Database(tmp_path / "mb.db")
    bus = LocalBus(db)
    for n in range(5):
        bus.publish(HITS, {"n": n})

    def store(payloads: list[dict[str, Any]]) -> None:
        for p in payloads:
            with db.write() as conn:  # joins the batch's transaction
                conn.execute("INSERT INTO records VALUES ('t', ?, '{}')", (str(p["n"]),))
            if p["n"] == 3:
                raise ValueError("a hit the handler cannot take")

    bus.subscribe(HITS, lambda p: store([p]), batch=store)
    assert bus.drain([HITS]) >= 5
    kept = [r[0] for r in db.read("SELECT key FROM records WHERE namespace = 't' ORDER BY key")]
    assert kept == ["0", "1", "2", "4"]  # the failed batch left no half; hit 3 rolled back
    (retry,) = db.read("SELECT topic, payload, attempts FROM outbox")
    assert retry[0] == HITS and json.loads(retry[1]) == {"n": 3} and retry[2] == 1
    assert bus.pending(HITS) == 1  # waiting for its retry, not lost


def test_one_messages_pending_hits_are_found_in_a_long_backlog(tmp_path: Path) -> None:
    bus = LocalBus(Database(tmp_path / "mb.db"))
    bus._writer = SpoolWriter(bus.spool_dir, segment_bytes=50_000)
    for n in range(3000):
        bus.publish(HITS, {"message_id": "busy" if n % 1000 else "quiet", "n": n})
    assert [p["n"] for p in bus.pending_hits("quiet")] == [0, 1000, 2000]
    assert len(bus.pending_hits("busy")) == 2997 and len(bus.pending_hits()) == 3000
    assert bus.pending_hits("nobody") == []


def test_a_writer_that_must_not_block_learns_from_flush_what_is_durable(tmp_path: Path) -> None:
    """The edge's loop appends without waiting and a flusher thread syncs: each flush covers
    every ticket appended before it, segments rotated out meanwhile included (and closes
    them)."""
    writer = SpoolWriter(tmp_path, sync=True, segment_bytes=256)
    tickets = [writer.append(json.dumps({"n": n}).encode(), wait=False) for n in range(40)]
    assert tickets == list(range(1, 41))
    assert len(writer._retired) >= 2  # rotated, and nothing flushed yet
    assert writer.flush() == 40 and writer._retired == []
    assert [r["n"] for r in records(tmp_path)] == list(range(40))
    writer.append(b'{"n": 40}')  # waiting (the synchronous path) still works after it
    writer.close()
    assert len(records(tmp_path)) == 41

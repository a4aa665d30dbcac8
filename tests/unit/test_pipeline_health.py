"""What `/healthz` says of the pipeline, from the worker's heartbeat and the spool's backlog
(mailbeacon/health.py, heartbeat.py), on a clock moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mailbeacon.clock import FixedClock
from mailbeacon.health import FAILURE_HOLD, Health, HealthBoard, PipelineProbe
from mailbeacon.heartbeat import Beat, Heartbeat, read_beat, write_beat

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def probe(tmp_path: Path, clock: FixedClock, backlog=None, expect_worker: bool = True) -> Health:  # type: ignore[no-untyped-def]
    health = Health(clock)
    watched = PipelineProbe(
        tmp_path / "worker.json",
        stall=60,
        expect_worker=expect_worker,
        backlog=backlog,
        clock=clock,
        cache_seconds=0,
    )
    health.watch(watched)
    return health


def beat(tmp_path: Path, at: datetime, **fields: object) -> None:
    values = {"pid": 42, "at": at.timestamp(), "started_at": T0.timestamp(), **fields}
    write_beat(tmp_path / "worker.json", Beat(**values))  # type: ignore[arg-type]


def test_a_worker_that_beats_and_keeps_up_is_ok(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    health = probe(tmp_path, clock, backlog=lambda cursor: (0, None))
    beat(tmp_path, T0, cursor=(1, 100), processed_at=T0.timestamp())
    clock.advance(seconds=5)
    report = health.report()
    assert report["status"] == "ok"
    assert report["pipeline"]["worker"] == {"alive": True, "beat_age": 5.0, "pid": 42}
    assert report["pipeline"]["spool"] == {"backlog_bytes": 0, "oldest_age": None}


def test_hits_waiting_past_the_threshold_are_a_503(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    answered = T0.timestamp()
    seen: list[object] = []

    def backlog(cursor):  # type: ignore[no-untyped-def]
        seen.append(cursor)
        return 600, answered

    health = probe(tmp_path, clock, backlog=backlog)
    beat(tmp_path, T0, cursor=(3, 40))
    clock.advance(seconds=59)
    beat(tmp_path, clock.now(), cursor=(3, 40))  # the worker beats, but does not get through
    assert health.report()["status"] == "ok"
    clock.advance(seconds=2)
    report = health.report()
    assert report["status"] == "degraded" and "61 s ago" in report["reason"]
    assert seen[-1] == {0: (3, 40)}  # measured from the worker's own cursor (lane 0's)


def test_a_worker_that_stopped_beating_is_a_503_even_with_nothing_waiting(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    health = probe(tmp_path, clock, backlog=lambda cursor: (0, None))
    beat(tmp_path, T0)
    clock.advance(seconds=61)
    report = health.report()
    assert report["status"] == "degraded" and "no heartbeat" in report["reason"]
    assert report["pipeline"]["worker"]["alive"] is False


def test_a_worker_that_never_started_is_a_503_after_the_threshold(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    health = probe(tmp_path, clock)
    beat(tmp_path, datetime(2025, 1, 1, tzinfo=UTC))  # a previous server's
    clock.advance(seconds=30)
    assert health.report()["status"] == "ok"  # starting
    clock.advance(seconds=31)
    assert "has not started" in health.report()["reason"]


def test_without_a_worker_only_the_backlog_counts(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    waiting = {"bytes": 0}
    health = probe(
        tmp_path,
        clock,
        backlog=lambda cursor: (waiting["bytes"], T0.timestamp() if waiting["bytes"] else None),
        expect_worker=False,
    )
    clock.advance(seconds=600)
    assert health.report()["status"] == "ok"
    waiting["bytes"] = 500  # MAILBEACON_WORKER=off and nobody drains: that is the news
    assert "not processed" in health.report()["reason"]


def test_a_recording_failure_still_comes_first(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    health = probe(tmp_path, clock, backlog=lambda cursor: (0, None))
    beat(tmp_path, T0)
    health.failed("recording hits: disk full")
    report = health.report()
    assert report["status"] == "degraded" and report["reason"] == "recording hits: disk full"
    assert "pipeline" in report


def test_the_heartbeat_counts_alerts_given_up_across_restarts(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    progress = {"cursor": [2, 10], "processed_at": T0.timestamp(), "dead_letters": 1}
    first = Heartbeat(tmp_path / "worker.json", lambda: progress, interval=60, clock=clock)
    first.start()
    first.alert_failed("alert-1/chat-webhook", "gave up after 6.0 h of failed attempts")
    made = first.beat()
    first.stop()
    assert made.alerts_failed == 1 and made.cursor == (2, 10) and made.dead_letters == 1
    again = Heartbeat(tmp_path / "worker.json", lambda: progress, interval=60, clock=clock)
    again.start()
    again.alert_failed("alert-2/slack-webhook", "404 no_service")
    again.stop()
    kept = read_beat(tmp_path / "worker.json")
    assert (
        kept is not None and kept.alerts_failed == 2 and "slack-webhook" in kept.last_alert_failure
    )


def test_a_broken_beat_file_reads_as_no_beat(tmp_path: Path) -> None:
    path = tmp_path / "worker.json"
    for junk in (
        "",
        "{",
        '{"pid": "x"}',
        "[1, 2]",
        '{"pid": 1, "at": 1, "started_at": 1, "cursor": [1]}',
    ):
        path.write_text(junk)
        assert read_beat(path) is None


def two_edge_processes(tmp_path: Path, clock: FixedClock) -> tuple[Health, Health]:
    """Two edge processes' Health on one board, as `mailbeacon serve` shares it (a second
    mapping of the file is what a second process holds)."""
    first, second = Health(clock), Health(clock)
    first.share(HealthBoard(tmp_path / "edge.health", 2), 0)
    second.share(HealthBoard(tmp_path / "edge.health"), 1)
    return first, second


def test_any_edge_process_reports_a_recording_failure_seen_by_another(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    first, second = two_edge_processes(tmp_path, clock)
    first.recorded()
    second.recorded()
    clock.advance(seconds=5)
    second.failed("recording hits: hit spool: disk full (No space left on device)")
    for health in (first, second):  # /healthz may be answered by either
        report = health.report()
        assert report["status"] == "degraded" and "disk full" in report["reason"]
    clock.advance(seconds=0.1)
    second.recorded()  # the disk has room again: its next hit clears it
    assert first.report()["status"] == "ok" and second.report()["status"] == "ok"


def test_a_process_failing_on_every_hit_is_reported_while_another_records(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    first, second = two_edge_processes(tmp_path, clock)
    for _ in range(20):  # its lane's disk refuses every write; the other records fine
        clock.advance(seconds=1)
        second.failed("recording hits: hit spool: Too many open files")
        clock.advance(seconds=0.5)
        first.recorded()
        assert first.report()["status"] == "degraded"
        assert "Too many open files" in second.report()["reason"]


def test_a_failed_process_that_gets_no_more_hits_counts_until_the_hold_ends(
    tmp_path: Path,
) -> None:
    """The kernel may send the recovered disk's next hits to the other processes only."""
    clock = FixedClock(T0)
    first, second = two_edge_processes(tmp_path, clock)
    second.failed("recording hits: disk full")
    clock.advance(seconds=1)
    first.recorded()  # recorded elsewhere since: the failure is no longer alone
    assert first.report()["status"] == "degraded"
    clock.advance(seconds=FAILURE_HOLD)
    assert first.report()["status"] == "ok" and second.report()["status"] == "ok"
    # with nobody recording since, a failure stays, however old (a quiet server, disk full)
    first.failed("recording hits: disk full")
    clock.advance(hours=1)
    assert second.report()["status"] == "degraded"


def test_the_beat_carries_every_lanes_cursor_and_an_old_beat_reads_as_lane_0(
    tmp_path: Path,
) -> None:
    clock = FixedClock(T0)
    progress = {"cursor": [2, 10], "cursors": {0: [2, 10], 3: [1, 77]}, "dead_letters": 0}
    made = Heartbeat(tmp_path / "worker.json", lambda: progress, clock=clock).beat()
    assert made.cursors == {0: (2, 10), 3: (1, 77)}
    kept = read_beat(tmp_path / "worker.json")
    assert kept is not None and kept.cursors == {0: (2, 10), 3: (1, 77)} and kept.cursor == (2, 10)
    # a worker from before lanes wrote one cursor: it is lane 0's
    old = '{"pid": 1, "at": 1, "started_at": 1, "cursor": [4, 5]}'
    (tmp_path / "worker.json").write_text(old)
    kept = read_beat(tmp_path / "worker.json")
    assert kept is not None and kept.cursors == {0: (4, 5)}
    (tmp_path / "worker.json").write_text('{"pid": 1, "at": 1, "started_at": 1}')
    kept = read_beat(tmp_path / "worker.json")
    assert kept is not None and kept.cursors is None  # off the spool: every lane from its start


def test_an_edge_process_down_past_the_threshold_is_a_503_and_one_answering_again_clears_it(
    tmp_path: Path,
) -> None:
    """The server marks a lane's exits; the lane marks when it answers. One that exits at every
    start leaves the other answering pixels, and /healthz (from that one) says so."""
    clock = FixedClock(T0)
    server, lane = Health(clock), Health(clock)
    board = HealthBoard(tmp_path / "edge.health", 2)
    server.share(board, 0, down_after=60)
    lane.share(HealthBoard(tmp_path / "edge.health"), 1, down_after=60)
    board.answering(0, clock.now().timestamp())
    board.answering(1, clock.now().timestamp())
    assert server.report() == {"status": "ok", "edge_processes": {"expected": 2, "answering": 2}}

    clock.advance(seconds=5)
    board.exited(1, clock.now().timestamp(), -9)  # killed; started again, it fails at start
    for _ in range(7):
        clock.advance(seconds=10)
        board.exited(1, clock.now().timestamp(), 1)
    report = server.report()
    assert report["status"] == "degraded" and report["edge_processes"]["answering"] == 1
    assert report["reason"] == (  # down since its first exit, not its last
        "edge process 1 has not answered for 70 s (it exited with code 1; started again 8 times)"
    )
    assert lane.report()["status"] == "degraded"  # the same board, read by either

    clock.advance(seconds=1)
    board.answering(1, clock.now().timestamp())  # a start that got as far as answering
    assert server.report()["status"] == "ok"
    assert server.report()["edge_processes"] == {"expected": 2, "answering": 2}


def test_one_edge_process_reports_no_processes_and_a_down_lane_within_the_threshold_is_ok(
    tmp_path: Path,
) -> None:
    clock = FixedClock(T0)
    alone = Health(clock)
    alone.share(HealthBoard(tmp_path / "one.health", 1), 0)
    assert "edge_processes" not in alone.report()
    health = Health(clock)
    board = HealthBoard(tmp_path / "edge.health", 2)
    health.share(board, 0, down_after=60)
    board.exited(1, clock.now().timestamp(), -9)
    clock.advance(seconds=59)
    report = health.report()
    assert report["status"] == "ok" and report["edge_processes"]["answering"] == 1

"""The edge's guarantee from outside: a hit that was answered survives kill -9, is stored
once, and a full disk costs the recipient nothing (the GIF) while /healthz says so."""

from __future__ import annotations

import http.client
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mailbeacon.bus import HITS
from mailbeacon.bus.local import LocalBus
from mailbeacon.health import FAILURE_HOLD
from mailbeacon.heartbeat import read_beat
from mailbeacon.store.sqlite import Database
from tests.support.processes import EDGE_PROCESSES, ServerProcess, wait_until
from tests.support.tmpfs import small_tmpfs

TOTAL, CONCURRENCY, KILL_AFTER = 2000, 32, 800  # the kill lands mid-load; each hit costs CPU


def _track(server: ServerProcess) -> dict[str, Any]:
    return server.cli_json("track", "--sender", "ann@example.com", "--to", "bob@example.org")


def _load(url: str, answered: set[int], in_flight_lost: set[int], stop: threading.Event) -> None:
    """TOTAL requests over CONCURRENCY keep-alive connections; each has its own user agent,
    so every stored event names the request it came from."""
    parts = urlsplit(url)
    numbers = iter(range(TOTAL))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while not stop.is_set():
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            try:
                conn.request("GET", parts.path, headers={"User-Agent": f"loadtest/{n}"})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    in_flight_lost.add(n)  # sent or not, never answered: the server died
                return
            if response.status == 200 and len(body) == 43:
                with lock:
                    answered.add(n)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.slow
def test_kill_9_under_load_loses_no_answered_hit_and_stores_none_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data_dir=data, env=EDGE_PROCESSES).start()  # a lane each
    tracked = _track(server)
    answered: set[int] = set()
    lost: set[int] = set()
    stop = threading.Event()
    load = threading.Thread(target=_load, args=(tracked["pixel_url"], answered, lost, stop))
    load.start()
    wait_until(lambda: len(answered) >= KILL_AFTER, timeout=60, interval=0.005)
    server.kill()  # SIGKILL, mid-load
    load.join(30)
    stop.set()
    assert KILL_AFTER <= len(answered) < TOTAL, "the kill must land during the load"

    restarted = ServerProcess(data_dir=data).start()
    try:
        bus = LocalBus(Database(data / "mailbeacon.db"))
        wait_until(lambda: bus.pending(HITS) == 0, timeout=120)
        db = sqlite3.connect(data / "mailbeacon.db")
        rows = db.execute(
            "SELECT user_agent, COUNT(*) FROM events WHERE message_id = ? GROUP BY user_agent",
            (tracked["message_id"],),
        ).fetchall()
        stored = {int(ua.split("/")[1]): count for ua, count in rows}
        assert answered <= stored.keys(), f"{len(answered - stored.keys())} answered hits lost"
        assert stored.keys() <= answered | lost, "a hit stored that was never requested"
        assert set(stored.values()) == {1}, "a hit stored twice"
        stats = restarted.cli_json("stats", tracked["message_id"])
        assert len(stats["events"]) == len(stored)
    finally:
        restarted.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 256 KiB tmpfs mounted where the spool lives (root only: mounting needs it)."""
    with small_tmpfs(tmp_path / "data" / "spool", "256k", mode="0700") as spool:
        yield spool


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    return filler


def _get(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", parts.path, headers={"User-Agent": "Mozilla/5.0 Safari/605.1.15"})
    response = conn.getresponse()
    return response.status, response.read()


def test_a_full_disk_still_serves_the_gif_and_healthz_answers_503(small_disk: Path) -> None:
    server = ServerProcess(data_dir=small_disk.parent).start()
    try:
        tracked = _track(server)
        assert _get(tracked["pixel_url"])[0] == 200
        filler = _fill(small_disk)
        # the spool's last page still has room for a few records; then the disk is full
        for _ in range(40):
            status, body = _get(tracked["pixel_url"])
            assert status == 200 and body.startswith(b"GIF89a") and len(body) == 43
            status, report = _get(server.url + "/healthz")
            if status != 200:
                break
        assert status == 503 and b"degraded" in report and b"hit spool" in report
        assert "could not record open hit" in server.log.read_text()
        recorded = len(server.cli_json("stats", tracked["message_id"])["events"])
        os.unlink(filler)  # space again: the next hits are recorded and health recovers
        sent = []

        def recovered() -> bool:
            sent.append(_get(tracked["pixel_url"])[0])
            return _get(server.url + "/healthz")[0] == 200

        # at once when the edge process that failed records again; the others' hits clear
        # its failure after FAILURE_HOLD (the kernel may send it no more connections)
        wait_until(recovered, timeout=FAILURE_HOLD + 10, interval=0.2)
        assert set(sent) == {200}
        wait_until(
            lambda: (
                len(server.cli_json("stats", tracked["message_id"])["events"])
                == recorded + len(sent)
            )
        )
    finally:
        server.stop()


def _worker(data_dir: Path) -> int | None:
    """The worker process's id, from its heartbeat (the server's other children are edge
    processes)."""
    beat = read_beat(data_dir / "worker.json")
    return beat.pid if beat is not None else None


def test_a_crashed_worker_is_started_again_and_its_hits_wait_in_the_spool(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path / "data").start()
    try:
        worker = wait_until(lambda: _worker(server.data_dir))
        tracked = _track(server)
        os.kill(worker, 9)
        assert _get(tracked["pixel_url"])[0] == 200  # the edge does not need the worker
        db = sqlite3.connect(tmp_path / "data" / "mailbeacon.db")
        wait_until(lambda: db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1)
        again = wait_until(lambda: (pid := _worker(server.data_dir)) != worker and pid)
        assert Path(f"/proc/{again}").exists()
        assert "the worker process exited" in server.log.read_text()
    finally:
        server.stop()

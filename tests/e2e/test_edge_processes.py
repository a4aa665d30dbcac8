"""`mailbeacon serve` with an edge process per CPU on one port, as a process.

The kernel spreads connections over the processes (SO_REUSEPORT); each appends its hits to
its own spool lane and the worker drains them all; a killed edge process is started again;
a port already taken, even by another Mailbeacon, is refused rather than shared.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mailbeacon.bus.spool import segments
from tests.support.processes import EDGE_PROCESSES as TWO
from tests.support.processes import MAILBEACON, ServerProcess, cli_env, wait_until

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def pixel(server: ServerProcess, path: str) -> int:
    """One pixel request on a connection of its own (each new connection may land on any
    process)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"User-Agent": CHROME, "Connection": "close"})
        response = conn.getresponse()
        assert response.read().startswith(b"GIF89a")
        return response.status
    finally:
        conn.close()


def health(server: ServerProcess) -> tuple[int, dict]:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def edge_pids(server: ServerProcess) -> list[int]:
    return [int(pid) for pid in re.findall(r"edge process (\d+) answering", server.log.read_text())]


def dead(pid: int) -> bool:
    """Gone, not merely a zombie: a process's threads may still hold its sockets when its
    first thread is a zombie already (the server reaps it within a second)."""
    return not Path(f"/proc/{pid}").exists()


def track(server: ServerProcess) -> tuple[str, str]:
    tracked = server.cli_json("track", "--sender", "ana@example.com", "--to", "bo@example.org")
    return tracked["message_id"], urlsplit(tracked["pixel_url"]).path


def events(server: ServerProcess, message_id: str) -> int:
    """Hits the worker has stored (not those still waiting in a lane)."""
    with sqlite3.connect(server.data_dir / "mailbeacon.db") as conn:
        query = "SELECT COUNT(*), COUNT(DISTINCT id) FROM events WHERE message_id = ?"
        count, distinct = conn.execute(query, (message_id,)).fetchone()
    assert count == distinct
    return int(count)


def test_two_edge_processes_share_the_port_and_every_hit_is_counted_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=TWO).start()
    try:
        assert "2 edge processes" in server.log.read_text()
        wait_until(lambda: edge_pids(server))
        message_id, path = track(server)
        assert all(pixel(server, path) == 200 for _ in range(120))
        spool = tmp_path / "data" / "spool"
        # both processes answered: each wrote its own lane
        assert segments(spool) and segments(spool / "lane-1")
        wait_until(lambda: events(server, message_id) == 120, timeout=30)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_killed_edge_process_is_started_again_and_nothing_is_lost(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=TWO).start()
    try:
        wait_until(lambda: edge_pids(server))
        [first] = edge_pids(server)
        message_id, path = track(server)
        answered = sum(pixel(server, path) == 200 for _ in range(40))
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: dead(first))  # (connections it had not answered are reset)
        answered += sum(pixel(server, path) == 200 for _ in range(40))  # the other answers
        wait_until(lambda: len(edge_pids(server)) == 2)
        assert edge_pids(server)[1] != first
        answered += sum(pixel(server, path) == 200 for _ in range(40))
        assert answered == 120
        wait_until(lambda: events(server, message_id) == 120, timeout=30)
        assert "the edge-1 process exited (-9); starting it again" in server.log.read_text()
        status, report = health(server)  # back: both answer again
        assert status == 200 and report["edge_processes"] == {"expected": 2, "answering": 2}
        again = edge_pids(server)[1]
        server.stop()
        # the process started again stops as gracefully as the first would have (it used to
        # be killed at once: the thread that started it had ended)
        after = server.log.read_text().split(f"edge process {again} answering")[1]
        assert "[edge-1]: stopped on signal 15" in after
    finally:
        server.stop()


@pytest.mark.slow
def test_an_edge_process_that_dies_at_every_start_turns_healthz_503_while_pixels_go_on(
    tmp_path: Path,
) -> None:
    """Killed, then unable to start again (its health board is gone: it exits at start): the
    other process answers every pixel, and /healthz, after MAILBEACON_STALL_SECONDS, says
    which process is down, how it exited and how often it was started again."""
    env = {**TWO, "MAILBEACON_STALL_SECONDS": "2"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        wait_until(lambda: edge_pids(server))
        [first] = edge_pids(server)
        _, path = track(server)
        assert health(server)[1]["edge_processes"] == {"expected": 2, "answering": 2}
        (tmp_path / "data" / "edge.health").unlink()
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: dead(first))

        def down() -> dict | None:  # type: ignore[type-arg]
            assert pixel(server, path) == 200  # the other process answers meanwhile
            status, report = health(server)
            # (503 may come first naming the kill, -9, before the first failed start exits)
            return report if status == 503 and "code 1;" in report["reason"] else None

        report = wait_until(down, timeout=30)
        assert report["edge_processes"] == {"expected": 2, "answering": 1}
        assert re.fullmatch(
            r"edge process 1 has not answered for \d+ s \(it exited with code 1;"
            r" started again \d+ times\)",
            report["reason"],
        ), report
        assert "the edge-1 process exited (1); starting it again" in server.log.read_text()
    finally:
        server.stop()


def test_a_port_another_mailbeacon_serves_is_refused_not_shared(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "one", env=TWO).start()
    try:
        second = subprocess.run(
            [*MAILBEACON, "serve", "--port", str(server.port)],
            env=cli_env(tmp_path / "two", TWO),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2
        assert "cannot start: Address already in use" in second.stderr
    finally:
        server.stop()


def test_a_stopped_server_leaves_no_edge_process_behind(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=TWO).start()
    wait_until(lambda: edge_pids(server))
    [child] = edge_pids(server)
    server.stop()
    wait_until(lambda: dead(child), timeout=5)


def held(pids: list[int], port: int) -> dict[int, set[int]]:
    """The client ports of the connections to ``port`` each process holds, as ``ss -tnp``
    shows them: /proc/<pid>/fd's sockets matched with /proc/net/tcp's established ones."""
    owner = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owner[target[8:-1]] = pid
    ports: dict[int, set[int]] = {pid: set() for pid in pids}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and inode in owner:
                ports[owner[inode]].add(int(remote.rsplit(":", 1)[1], 16))
    return ports


def holder_of(pids: list[int], port: int, client_port: int) -> int | None:
    return next((pid for pid, ports in held(pids, port).items() if client_port in ports), None)


def test_keep_alive_connections_the_kernel_spread_unevenly_end_up_even(tmp_path: Path) -> None:
    """The kernel places each connection by a hash: 30 on one process and 10 on the other is
    a split it makes. The busier process answers some pixels with `Connection: close` until
    each holds 20, and every answer on the way is the pixel."""
    server = ServerProcess(tmp_path / "data", env=TWO).start()
    clients: list[http.client.HTTPConnection] = []
    try:
        wait_until(lambda: edge_pids(server))
        assert server.proc is not None
        pids = [server.proc.pid, *edge_pids(server)]
        _, path = track(server)
        answers: list[tuple[int, bytes]] = []

        def ask(conn: http.client.HTTPConnection) -> None:
            conn.request("GET", path, headers={"User-Agent": CHROME})
            response = conn.getresponse()
            answers.append((response.status, response.read()[:6]))

        wanted = dict(zip(pids, (30, 10), strict=True))
        kept: dict[int, list[http.client.HTTPConnection]] = {pid: [] for pid in pids}
        for _ in range(400):  # connections are made until the kernel has placed 30 and 10
            if all(len(kept[pid]) == wanted[pid] for pid in pids):
                break
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.connect()  # no request yet: a process sheds only on an answer
            assert conn.sock is not None
            port = conn.sock.getsockname()[1]
            holder = wait_until(functools.partial(holder_of, pids, server.port, port))
            if len(kept[holder]) < wanted[holder]:
                kept[holder].append(conn)
            else:
                conn.close()
        clients = [conn for pid in pids for conn in kept[pid]]
        assert [len(held(pids, server.port)[pid]) for pid in pids] == [30, 10]

        def even() -> bool:
            for conn in clients:  # one request on each (a closed one connects again)
                ask(conn)
            return sorted(len(ports) for ports in held(pids, server.port).values()) == [20, 20]

        wait_until(even, timeout=20)
        assert set(answers) == {(200, b"GIF89a")}
    finally:
        for conn in clients:
            conn.close()
        server.stop()

"""The connection counts the edge processes share, and when one sheds a connection."""

from __future__ import annotations

from pathlib import Path

from functions.edge.balance import DOWN, INTERVAL, ConnectionShares, mark_down


def holding(shares: ConnectionShares, connections: int) -> ConnectionShares:
    for _ in range(connections):
        shares.opened()
    return shares


def test_each_process_sees_the_others_counts(tmp_path: Path) -> None:
    path = tmp_path / "edge.connections"
    server = holding(ConnectionShares(path, 0, 3), 2)
    assert server.counts() == [2, DOWN, DOWN]  # the others have not started
    lane = holding(ConnectionShares(path, 2), 5)
    lane.closed()
    assert server.counts() == lane.counts() == [2, DOWN, 4]


def test_a_process_two_ahead_of_the_least_loaded_sheds_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "edge.connections"
    busy = holding(ConnectionShares(path, 0, 2), 33)
    holding(ConnectionShares(path, 1), 30)
    assert busy.shed(100.0)  # 33 against 30
    assert busy.held == 32 and busy.counts()[0] == 32  # counted gone at once
    assert not busy.shed(100.0 + INTERVAL / 2)  # the client has not connected again yet
    assert busy.shed(100.0 + INTERVAL)  # 32 against 30
    assert not busy.shed(100.0 + 2 * INTERVAL)  # 31 against 30: as even as 61 can be


def test_nobody_sheds_towards_a_process_that_is_down(tmp_path: Path) -> None:
    path = tmp_path / "edge.connections"
    alone = holding(ConnectionShares(path, 0, 3), 40)
    assert not alone.shed(1.0)  # the others never answered
    other = holding(ConnectionShares(path, 1), 3)
    assert alone.shed(2.0)
    other.close()
    mark_down(path, 1)  # the server saw it exit (its connections went with it)
    assert not alone.shed(3.0)
    assert alone.counts() == [39, DOWN, DOWN]


def test_a_process_that_stops_is_down_for_the_others(tmp_path: Path) -> None:
    path = tmp_path / "edge.connections"
    server = holding(ConnectionShares(path, 0, 2), 9)
    lane = ConnectionShares(path, 1)
    assert server.shed(1.0)
    lane.close()  # its stop, or an exception out of its loop
    assert server.counts() == [8, DOWN]
    assert not server.shed(2.0)

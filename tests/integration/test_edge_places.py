"""The edge's shared limits (functions/edge/places.py) between real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from functions.edge.places import EXPORTS, STREAMS, Places

HOLDER = """
import sys
from pathlib import Path
from functions.edge.places import Places
places = Places(Path(sys.argv[1]))
region, key, limit, count = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
held = [places.take(region, key, limit) for _ in range(count)]
print("held" if all(p is not None for p in held) else "refused", flush=True)
sys.stdin.read()  # holds them until told to go (or killed)
"""


def holder(path: Path, region: int, key: str, limit: int, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(region), key, str(limit), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_place_held_by_another_process_is_not_given_here(tmp_path: Path) -> None:
    path = tmp_path / "edge.locks"
    other = holder(path, EXPORTS, "alice", 1, 1)
    places = Places(path)
    try:
        assert places.take(EXPORTS, "alice", 1) is None  # alice's one export runs elsewhere
        assert places.take(EXPORTS, "bob", 1) is not None  # bob's place is his own
    finally:
        other.kill()
        other.wait()
    # a process that dies (kill -9 included) gives its places back with it
    assert places.take(EXPORTS, "alice", 1) is not None


def test_a_limit_counts_places_in_this_process_and_in_others(tmp_path: Path) -> None:
    path = tmp_path / "edge.locks"
    other = holder(path, STREAMS, "", 5, 2)  # two streams open in another process
    places = Places(path)
    try:
        mine = [places.take(STREAMS, "", 5) for _ in range(3)]
        assert None not in mine and len(set(mine)) == 3
        assert places.take(STREAMS, "", 5) is None  # 2 there + 3 here: the total is reached
        places.give(mine[0])
        assert places.take(STREAMS, "", 5) == mine[0]
        assert places.held() == 3
    finally:
        assert other.stdin is not None
        other.stdin.close()  # it exits and its two places are free
        other.wait()
    assert places.take(STREAMS, "", 5) is not None
    assert places.take(STREAMS, "", 5) is not None
    assert places.take(STREAMS, "", 5) is None


def test_giving_back_a_place_never_taken_changes_nothing(tmp_path: Path) -> None:
    places = Places(tmp_path / "edge.locks")
    taken = places.take(EXPORTS, "alice", 1)
    assert taken is not None
    places.give(taken + 1)
    assert places.take(EXPORTS, "alice", 1) is None
    places.close()
    assert Places(tmp_path / "edge.locks").take(EXPORTS, "alice", 1) is not None

"""The Coalescer: many submitters, one write per key per interval, every item written once."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailbeacon.store.firestore.coalesce import Coalescer


class Recorder:
    """A flush that records its batches and the (fake) time each write started."""

    def __init__(self, clock: list[float], fail_first: bool = False) -> None:
        self.clock = clock
        self.writes: list[tuple[str, float, list[int]]] = []
        self.lock = threading.Lock()
        self.fail_first = fail_first

    def __call__(self, key: str, items: list[int]) -> None:
        with self.lock:
            self.writes.append((key, self.clock[0], list(items)))
            if self.fail_first and len(self.writes) == 1:
                raise RuntimeError("store unavailable")


def fake_time() -> tuple[list[float], object, object]:
    now = [1000.0]
    lock = threading.Lock()

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:  # fake time passes only when someone waits
        time.sleep(0.005)  # and other threads get to submit meanwhile, as in real life
        with lock:
            now[0] += seconds

    return now, clock, sleep


def test_concurrent_items_for_one_key_are_written_together_and_spaced() -> None:
    now, clock, sleep = fake_time()
    flush = Recorder(now)
    coalescer = Coalescer(flush, interval=1.0, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda i: coalescer.submit("m1", i), range(200)))
    written = sorted(i for _, _, items in flush.writes for i in items)
    assert written == list(range(200))  # every item once
    starts = [at for _, at, _ in flush.writes]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(starts))
    assert len(flush.writes) < 200  # batched


def test_keys_do_not_wait_for_each_other() -> None:
    now, clock, sleep = fake_time()
    flush = Recorder(now)
    coalescer = Coalescer(flush, interval=1.0, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    coalescer.submit("a", 1)
    coalescer.submit("b", 2)
    assert [(k, at) for k, at, _ in flush.writes] == [("a", 1000.0), ("b", 1000.0)]


def test_a_write_elsewhere_pushes_the_next_write_back() -> None:
    now, clock, sleep = fake_time()
    flush = Recorder(now)
    coalescer = Coalescer(flush, interval=1.0, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    coalescer.written_elsewhere("m", 1000.4)
    coalescer.submit("m", 1)
    assert flush.writes[0][1] == pytest.approx(1001.4)


def test_a_failed_write_is_raised_to_its_submitters_and_the_next_batch_proceeds() -> None:
    now, clock, sleep = fake_time()
    flush = Recorder(now, fail_first=True)
    coalescer = Coalescer(flush, interval=1.0, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="store unavailable"):
        coalescer.submit("m", 1)
    coalescer.submit("m", 2)
    assert [items for _, _, items in flush.writes] == [[1], [2]]

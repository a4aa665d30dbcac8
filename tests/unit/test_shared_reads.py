"""Reads of one document on the wire at the same moment share one request
(mailbeacon/store/firestore/shared_reads.py): a burst of hits on one message costs one context
read per wave, and a failed read fails everyone who waited for it, so each delivery retries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailbeacon.store.firestore.shared_reads import SharedReads
from tests.support.processes import wait_until


def test_reads_of_one_key_on_the_wire_together_share_one_fetch() -> None:
    reads: SharedReads[dict[str, int]] = SharedReads()
    answer = threading.Event()
    fetched: list[str] = []

    def fetch(key: str) -> dict[str, int]:
        fetched.append(key)
        answer.wait(10)
        return {"version": len(fetched)}

    with ThreadPoolExecutor(max_workers=6) as pool:
        same = [pool.submit(reads.read, "m1", lambda: fetch("m1")) for _ in range(5)]
        other = pool.submit(reads.read, "m2", lambda: fetch("m2"))
        wait_until(lambda: reads.shared == 4 and len(fetched) == 2)  # all waiting, two on the wire
        answer.set()
        values = [f.result(5) for f in same]
        assert other.result(5) is not values[0]
    assert sorted(fetched) == ["m1", "m2"]
    assert all(v is values[0] for v in values)  # one answer, the first fetch's
    assert reads.read("m1", lambda: fetch("m1"))["version"] == 3  # later: a fetch of its own


def test_a_failed_read_fails_everyone_who_waited_and_the_next_read_fetches_again() -> None:
    reads: SharedReads[str] = SharedReads()
    answer = threading.Event()

    def failing() -> str:
        answer.wait(10)
        raise TimeoutError("the store did not answer")

    with ThreadPoolExecutor(max_workers=3) as pool:
        waiting = [pool.submit(reads.read, "m1", failing) for _ in range(3)]
        wait_until(lambda: reads.shared == 2)
        answer.set()
        for future in waiting:
            with pytest.raises(TimeoutError):
                future.result(5)
    assert reads.read("m1", lambda: "fresh") == "fresh"

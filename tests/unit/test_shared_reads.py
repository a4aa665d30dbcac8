"""Reads of one document on the wire at the same moment share one request
(mailbeacon/store/firestore/shared_reads.py): a burst of hits on one message costs one context
read per wave, and a failed read fails everyone who waited for it, so each delivery retries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailbeacon.store.firestore.shared_reads import SharedReads, Turns
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


def test_hits_of_one_message_take_turns_until_the_one_before_stored_its_event() -> None:
    turns = Turns(patience=10)
    turns.take("m1")  # the first hit: nobody before it
    went: list[str] = []

    def second() -> None:
        turns.take("m1")
        went.append("second")
        turns.release("m1")

    other = threading.Thread(target=second)
    other.start()
    wait_until(lambda: turns.waited == 1)  # waiting for the first
    turns.take("m2")  # another message: no wait
    assert went == [] and turns.waited == 1
    turns.release("m1")  # the first stored its event: the second goes
    other.join(5)
    assert went == ["second"]
    turns.release("m2")
    turns.take("m1")  # nobody holds it now
    assert turns.waited == 1


def test_a_turn_never_released_holds_the_next_hit_only_for_its_patience() -> None:
    turns = Turns(patience=0.05)
    holder = threading.Thread(target=turns.take, args=("m1",))  # then fails: no release
    holder.start()
    holder.join(5)
    turns.take("m1")  # waits its patience, then goes
    assert turns.waited == 1
    turns.take("m1")  # this thread's own turn, never released, is not waited for
    assert turns.waited == 1

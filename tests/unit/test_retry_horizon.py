"""Issue 24, item 2 at the unit level: every Retry-After value becomes a sane, bounded wait;
nothing sleeps or waits on a NaN or a negative; Pub/Sub keeps a message longer than the
notifier keeps trying it, so the notifier is the one that gives up (and tells the owner)."""

from __future__ import annotations

import math

import pytest

from functions.deploy import RETRY
from mailbeacon.config import Config
from mailbeacon.errors import DeliveryFailed, RetryLater
from mailbeacon.retry_after import MAX_RETRY_AFTER, header_seconds, retry_after_seconds
from notifier.retry import RetryPolicy

HINTS = ["nan", "NaN", "-1", "-1e9", "inf", "-inf", "1e400", "99999999", "0", "0.5", "3",
         "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2099 07:28:00 GMT", "soon", "", "  ",
         "1,5", "0x10", "\u0663"]  # fmt: skip


@pytest.mark.parametrize("hint", HINTS)
def test_every_retry_after_is_none_or_a_bounded_non_negative_number(hint: str) -> None:
    for seconds in (retry_after_seconds(hint), header_seconds({"retry-after": [hint]})):
        assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_RETRY_AFTER)


@pytest.mark.parametrize("hint", [math.nan, -1.0, -math.inf, None, 0.0, 2.0, 1e9, math.inf])
def test_an_inline_retry_never_sleeps_on_a_nan_a_negative_or_for_long(hint: float | None) -> None:
    slept: list[float] = []
    failures = [DeliveryFailed("x", "429", permanent=False, retry_after=hint)] * 2

    def send() -> str:
        if failures:
            raise failures.pop()
        return "sent"

    policy = RetryPolicy(retries=2, sleep=slept.append)
    try:
        policy.call(send)
    except DeliveryFailed as exc:  # a long hint goes back to the bus instead
        assert exc.retry_after is not None and exc.retry_after > policy.max_inline_wait
        assert isinstance(policy.settle(exc), RetryLater)
    assert all(math.isfinite(s) and 0 <= s <= policy.max_inline_wait for s in slept), slept


@pytest.mark.parametrize("seconds", [math.nan, -5.0, -math.inf, math.inf, 1e12, 3.0])
def test_a_bus_never_waits_a_nan_or_a_negative(seconds: float) -> None:
    wait = RetryLater(seconds).seconds
    assert math.isfinite(wait) and 0 <= wait <= 86400


def test_pubsub_keeps_a_message_longer_than_the_notifier_retries_it() -> None:
    """Pub/Sub's exponential backoff from min to max between deliveries, summed over the
    deliveries before the dead-letter topic, against the notifier's default horizon."""
    low, high = int(RETRY["min"].rstrip("s")), int(RETRY["max"].rstrip("s"))
    delays = [min(high, low * 2**n) for n in range(int(RETRY["attempts"]) - 1)]
    assert sum(delays) > Config.retry_horizon + Config.retry_cap

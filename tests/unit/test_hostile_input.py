"""Bad input at the edge always ends in a verdict, never an exception (issue 6, "Bad input").

``classify`` has a safety net: an exception inside it is logged and the hit labelled ``bot``
with the reason ``unclassifiable``. These tests must not lean on that net, or they would pass
with a classifier that crashes on every hit: each verdict has to come from a real rule, and
nothing may be logged by the classifier.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.catalogs.loader import CatalogTagger
from mailbeacon.classify import classify
from mailbeacon.hits import build_hit, client_address
from mailbeacon.model import (
    Classification,
    Hit,
    Link,
    Message,
    MessageContext,
    Strictness,
    Verdict,
)
from mailbeacon.tokens import TokenClaims

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = Message("m" * 16, "s@example.com", ("r@example.com",), "", T0, T0, (Link(1, "u"),))
TAGGER = CatalogTagger(None)
HEADERS = ("User-Agent", "Accept", "Sec-Purpose", "Purpose", "Referer", "Via", "X-Moz")


@pytest.fixture(autouse=True)
def classifier_never_fails(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if the classifier caught an exception of its own (it logs each one)."""
    with caplog.at_level(logging.ERROR, logger="mailbeacon.classify"):
        yield
    failures = [r for r in caplog.records if r.name.startswith("mailbeacon.classify")]
    assert failures == [], f"the classifier raised: {failures[0].getMessage()}"


def verdict(hit: Hit, context: MessageContext) -> Classification:
    """classify, refusing the safety net's label."""
    result = classify(hit, context)
    assert "unclassifiable" not in result.reasons, "the classifier raised on this hit"
    return result


def _junk(rng: random.Random) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64))).decode("latin-1")
    if choice == 1:
        return "A" * rng.choice((1025, 10_000, 200_000))
    if choice == 2:
        return "".join(
            chr(rng.randrange(0x10FFFF)) for _ in range(rng.randrange(40)) if rng.random()
        )
    if choice == 3:
        return "Mozilla/5.0 (" * rng.randrange(1, 300)
    if choice == 4:
        return rng.choice(
            ["::ffff:40.107.1.1", "[2001:db8::1]:443", "1.2.3.4:5", "999.1.1.1", "fe80::1%eth0", ""]
        )
    return ",".join(
        rng.choice(["unknown", "1.2.3.4", " ", "::", "x" * 50, "0.0.0.0"])
        for _ in range(rng.randrange(1, 8))
    )


def test_random_requests_always_get_a_verdict() -> None:
    rng = random.Random(6)
    kinds = list(Verdict)
    seen: set[Verdict] = set()
    for i in range(400):
        headers = {name: _junk(rng) for name in HEADERS if rng.random() < 0.7}
        kind = rng.choice(["open", "click"])
        claims = TokenClaims(kind, MESSAGE.id, 1 if kind == "click" else None, None)
        hit = build_hit(
            claims,
            method=rng.choice(["GET", "HEAD", "get", _junk(rng)]),
            headers=headers,
            address=client_address(_junk(rng), _junk(rng), rng.randrange(0, 4)),
            at=T0 + timedelta(seconds=rng.uniform(-1e6, 1e7)),
            ip_key=b"k",
            tagger=TAGGER,
        )
        again = Hit.from_dict(hit.to_dict())  # the bus round trip
        context = MessageContext(MESSAGE, (), (T0,), rng.choice(list(Strictness)))
        result = verdict(again, context)
        assert result.verdict in kinds and result.reasons, i
        seen.add(result.verdict)
    assert len(seen) >= 3, seen  # junk still meets several rules, not one catch-all


def test_nothing_known_is_a_bot() -> None:
    claims = TokenClaims("open", MESSAGE.id)
    hit = build_hit(
        claims,
        method="GET",
        headers={},
        address=client_address(None, "garbage", 1),
        at=T0 + timedelta(hours=2),
        ip_key=b"k",
        tagger=TAGGER,
    )
    assert (hit.ip_hash, hit.network) == ("", "")
    assert verdict(hit, MessageContext(MESSAGE)).verdict is Verdict.BOT


def test_a_broken_context_is_labelled_not_raised() -> None:
    naive = Message("m" * 16, "s@example.com", ("r@example.com",), "", datetime(2026, 1, 1), None)
    claims = TokenClaims("open", MESSAGE.id)
    hit = build_hit(
        claims,
        method="GET",
        headers={"User-Agent": "curl/8"},
        address=None,
        at=T0,
        ip_key=b"k",
        tagger=TAGGER,
    )
    assert verdict(hit, MessageContext(naive)).reasons == ("bot-user-agent",)
    weird = MessageContext(MESSAGE, strictness="nonsense")  # type: ignore[arg-type]
    assert verdict(hit, weird).reasons == ("bot-user-agent",)

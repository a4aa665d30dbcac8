"""Classifications per second on the labelled corpus, against parsing the same user agents.

Ours: `classify(hit, context)` over the corpus hits, built the way the edge builds them
(X-Forwarded-For -> address -> keyed hash, prefix and catalogue tags), each with the context
of the earlier hits of its message; the user-agent reading is cached (lru_cache), as in
production. Baseline: ua-parser 1.x alone on the same hits' user agents, with an UNCACHED
parser (the pure-Python BasicResolver and no cache), which is what a naive pipeline pays.
A third figure shows ours when every user agent is new (cache misses throughout).

Run: .venv/bin/python bench/classify.py
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ua_parser import BasicResolver, Parser, load_builtins  # noqa: E402

from mailbeacon.catalogs.loader import CatalogTagger  # noqa: E402
from mailbeacon.classify import classify  # noqa: E402
from mailbeacon.classify.useragent import inspect  # noqa: E402
from mailbeacon.evaluation.corpus import group_by_message, load_corpus  # noqa: E402
from mailbeacon.hits import build_hit, client_address  # noqa: E402
from mailbeacon.model import Event, Hit, Link, Message, MessageContext  # noqa: E402
from mailbeacon.tokens import TokenClaims, new_message_id  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "hits.jsonl"
MIN_SECONDS = 2.0


def build_pairs() -> list[tuple[Hit, MessageContext]]:
    """(hit, context) for every corpus case, contexts holding the earlier hits' events."""
    tagger = CatalogTagger(None)
    sent = datetime.now(UTC) - timedelta(days=1)
    pairs = []
    for group in group_by_message(load_corpus(CORPUS)):
        message = Message(
            new_message_id(),
            "a@example.com",
            ("b@example.com",),
            "",
            sent,
            sent,
            tuple(Link(i, f"https://example.com/{i}") for i in range(1, 5)),
        )
        earlier: list[Event] = []
        for case in group:
            click = case.kind == "click"
            claims = TokenClaims(
                case.kind,
                message.id,
                case.link if click else None,
                "https://example.com/" if click else None,
            )
            hit = build_hit(
                claims,
                method=case.method,
                headers=case.headers,
                address=client_address("127.0.0.1", case.ip, 1),
                at=sent + timedelta(seconds=case.t),
                ip_key=b"bench",
                tagger=tagger,
            )
            context = MessageContext(message, tuple(earlier))
            pairs.append((hit, context))
            c = classify(hit, context)
            earlier.append(
                Event(
                    hit.id,
                    message.id,
                    hit.kind,
                    hit.at,
                    c.verdict,
                    c.reasons,
                    c.client,
                    hit.link_index,
                    hit.url,
                    hit.ip_hash,
                    hit.network,
                    hit.user_agent,
                )
            )
    return pairs


def rate(work, items: int) -> float:
    """Items per second, running ``work`` (one pass over ``items``) for at least MIN_SECONDS."""
    work()  # warm up
    passes, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < MIN_SECONDS:
        work()
        passes += 1
    return passes * items / elapsed


def main() -> None:
    pairs = build_pairs()
    uas = [hit.user_agent for hit, _ in pairs]
    print(f"corpus: {len(pairs)} hits, {len(set(uas))} distinct user agents")

    def ours() -> None:
        for hit, context in pairs:
            classify(hit, context)

    uncached = Parser(BasicResolver(load_builtins()))

    def baseline() -> None:
        for ua in uas:
            uncached.parse(ua)

    ours_rate = rate(ours, len(pairs))
    base_rate = rate(baseline, len(uas))

    # Every user agent new: a version suffix defeats both caches (ours and ua-parser's).
    fresh = [(h, c) for h, c in pairs for _ in range(3)]
    counter = iter(range(10**9))

    def ours_cold() -> None:
        inspect.cache_clear()
        for hit, context in fresh:
            n = next(counter)
            classify(Hit(**{**hit.__dict__, "user_agent": f"{hit.user_agent} v/{n}"}), context)

    cold_rate = rate(ours_cold, len(fresh))
    print(f"ours (classify, cached UA reading):        {ours_rate:>10,.0f} hits/s")
    print(f"baseline (ua-parser parse, uncached):      {base_rate:>10,.0f} hits/s")
    print(f"ratio ours / baseline:                     {ours_rate / base_rate:>10.1f}x")
    print(f"ours with every user agent new (no cache): {cold_rate:>10,.0f} hits/s")
    print(f"goal >= 5,000 hits/s on one core: {'met' if ours_rate >= 5000 else 'NOT met'}")
    catalogues()


def catalogues() -> None:
    """The edge's cold-start cost: loading the shipped catalogues, and a compiled list of
    Apple's size (300k prefixes, synthetic), against parsing that list as text each time."""
    import ipaddress
    import random

    from mailbeacon.catalogs.ranges import RangeSet

    start = time.perf_counter()
    tagger = CatalogTagger(None)
    tagger(ipaddress.ip_address("203.0.113.9"))
    shipped_ms = (time.perf_counter() - start) * 1000
    rng = random.Random(1)
    big = [
        f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
        for _ in range(150_000)
    ]
    big += [
        f"2a02:26f7:{rng.randrange(65536):x}:{rng.randrange(65536):x}::/64" for _ in range(150_000)
    ]
    start = time.perf_counter()
    compiled = RangeSet.from_networks(big)
    text_s = time.perf_counter() - start
    data = compiled.to_bytes()
    start = time.perf_counter()
    RangeSet.from_bytes(data)
    load_ms = (time.perf_counter() - start) * 1000
    probes = [ipaddress.ip_address(f"198.51.100.{i % 256}") for i in range(100_000)]
    start = time.perf_counter()
    for address in probes:
        tagger(address)
    lookup_us = (time.perf_counter() - start) / len(probes) * 1e6
    print(f"shipped catalogues, first-hit load:         {shipped_ms:>10.1f} ms")
    print(
        f"300k-prefix list: compiled load {load_ms:.1f} ms"
        f" vs parsing the text {text_s * 1000:.0f} ms ({text_s * 1000 / load_ms:.0f}x)"
    )
    print(f"tagger lookup over all catalogues:          {lookup_us:>10.2f} us")


if __name__ == "__main__":
    main()

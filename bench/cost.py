"""What a hit costs in the cloud: Firestore reads and writes and Pub/Sub publishes per hit.

Runs against the Firestore and Pub/Sub emulators, counting at the clients' RPC boundary
(functions/standins/billing.py). The edge is the real WSGI app (pixel and click through the Flask
test client) publishing to Pub/Sub; the consumer is the real `process_hit` path fed from a pull
subscription. Ours: FirestoreStore.get_context (one read of the message document, shared by
the hits of that message handled at the same moment; the owner's strictness read, then kept a
minute, only for a hit whose verdict it decides), the event's document created with its
live-feed entry inside, the message's summary and the owner's day counters written by
coalescers. Baseline, same run and same hits: the context assembled from
the finer reads (get_message, get_settings, list_events, list_self_views), as the core did
before, and only the event documents written (no summary, no day counters).
Reads and writes are also broken down by kind of document (the collection, or the records'
namespace). Goal: <= 1 read, <= 2 writes, 1 publish per hit on average (docs/deploy.md).

Run: .venv/bin/python bench/cost.py [--messages 20] [--hits-per-message 25] [--concurrency 16]
     [--cold 100]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.bootstrap import App, bootstrap  # noqa: E402
from functions.config import AppConfig  # noqa: E402
from functions.standins.billing import CountingSession, Counts, count_firestore  # noqa: E402
from functions.standins.emulators import Emulator, firestore_command, pubsub_command  # noqa: E402
from functions.standins.pubsub_admin import PubsubAdmin  # noqa: E402
from mailbeacon.bus.pubsub import PubsubBus, decode  # noqa: E402
from mailbeacon.clock import FixedClock  # noqa: E402
from mailbeacon.model import Event, MessageContext  # noqa: E402
from mailbeacon.store import assemble_context  # noqa: E402
from mailbeacon.store.firestore import FirestoreStore  # noqa: E402
from mailbeacon.store.firestore.context import live_fields  # noqa: E402
from mailbeacon.store.firestore.docs import event_data  # noqa: E402
from mailbeacon.tracking import track_message  # noqa: E402

AGENTS = [
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "python-requests/2.31",
]


class AssembledContext(FirestoreStore):
    """The baseline: the context from four finer reads instead of one document, and so no
    context to keep up to date (each hit writes its event document only)."""

    def get_context(self, message_id: str) -> MessageContext | None:
        context = assemble_context(self, self, message_id)
        if context is None:
            return None
        strictness = self.get_settings(context.message.owner).strictness  # read every time
        return replace(context, strictness=strictness)

    def add_event(
        self, event: Event, relabel: Sequence[Event] = (), *, live_at: datetime | None = None
    ) -> bool:
        from google.api_core.exceptions import AlreadyExists

        for changed in relabel:
            self.connection.event_ref(changed.id).update(
                {"verdict": changed.verdict.value, "reasons": list(changed.reasons)}
            )
        try:
            data = event_data(event)
            message = self.get_message(event.message_id) if live_at else None
            if message is not None and live_at is not None:  # the feed, in the same document
                data.update(live_fields(message, event, live_at))
            self.connection.event_ref(event.id).create(data)
        except AlreadyExists:
            return False
        return True


def kind_of(path: str) -> str:
    """The kind of document a path names: its collection without the run's prefix, and for
    records its namespace (``recordsets/live-events``)."""
    parts = path.split("/documents/", 1)[-1].split("/")
    collection = parts[0].split("-", 1)[-1] if "-" in parts[0] else parts[0]
    if collection == "recordsets" and len(parts) > 1:
        return f"{collection}/{parts[1]}"
    return collection


def reads_by_kind(counts: Counts) -> Counter[str]:
    """The meter's reads by kind of document."""
    kinds: Counter[str] = Counter()
    for path, n in counts.read_paths.items():
        kinds[kind_of(path)] += n
    return kinds


def run(kind: str, store_cls: type, hosts: dict[str, str], args: argparse.Namespace) -> Counts:

    from google.cloud import firestore

    os.environ.update(hosts)
    project, prefix = "bench-cost", f"{kind}{secrets.token_hex(3)}-"
    counts = Counts()
    admin = PubsubAdmin(hosts["PUBSUB_EMULATOR_HOST"], project)
    for topic in ("hits", "notify", "digest"):
        admin.topic(prefix + topic)
    admin.subscription(prefix + "hits-pull", prefix + "hits")
    import requests

    bus = PubsubBus(
        project,
        topic_prefix=prefix,
        emulator_host=os.environ["PUBSUB_EMULATOR_HOST"],
        session=CountingSession(requests.Session(), counts),
    )
    client = firestore.Client(project=project)
    count_firestore(client, counts)
    store = store_cls(client, prefix=prefix, flush_interval=1.0 if kind == "ours" else 0.0)
    clock = FixedClock(datetime.now(UTC) - timedelta(hours=1))
    data_dir = Path(tempfile.mkdtemp(prefix="mailbeacon-cost-"))
    config = AppConfig.local(
        data_dir, public_url="http://127.0.0.1", store="firestore", bus="pubsub"
    )
    app: App = bootstrap(config, clock=clock, store=store, bus=bus)
    from functions.app import create_app

    web = create_app(app).test_client()
    rng = random.Random(7)
    urls = []
    for i in range(args.messages):
        tracked = track_message(
            store,
            app.urls,
            clock,
            records=store,
            sender=f"u{i % 3}@example.com",
            recipients=["r@example.org"],
            links=["https://example.com/a"],
            sent_at=clock.now(),
        )
        urls += [tracked.pixel_url] * (args.hits_per_message - 1) + [tracked.links[0][1]]
    rng.shuffle(urls)
    clock.advance(minutes=5)
    before = counts.reads, counts.total_writes, counts.publishes
    reads_before = reads_by_kind(counts)
    writes_before = Counter({p: len(t) for p, t in counts.writes.items()})

    for url in urls:  # the edge: one publish per hit, no store access
        ua = rng.choice(AGENTS)
        assert web.get(
            url.removeprefix("http://127.0.0.1"), headers={"User-Agent": ua}
        ).status_code in (200, 302)
    edge_publishes = counts.publishes - before[2]

    def consume(received: dict[str, Any]) -> None:
        app.consumers.hit(decode(received["message"]))  # what process_hit does per delivery

    # Pub/Sub pushes continuously, up to the function's concurrency: the hits are pulled (and
    # acknowledged, the bench not being about delivery) first, then handled 16 at a time
    # without the lull a pull-process-ack round would leave at the end of each round.
    delivered: list[dict[str, Any]] = []
    while batch := admin.pull(prefix + "hits-pull", 100, immediately=True):
        admin.ack(prefix + "hits-pull", *(received["ackId"] for received in batch))
        delivered += batch
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(consume, delivered))
    elapsed = time.monotonic() - started
    hits = len(urls)
    reads, writes = counts.reads - before[0], counts.total_writes - before[1]
    publishes = counts.publishes - before[2]
    print(
        f"  {kind:<9} per hit: {reads / hits:5.2f} reads  {writes / hits:5.2f} writes  "
        f"{edge_publishes / hits:4.2f} edge publishes  "
        f"{(publishes - edge_publishes) / hits:4.2f} notify publishes   ({hits} hits in "
        f"{elapsed:.0f} s)"
    )
    reads_by = reads_by_kind(counts) - reads_before
    writes_by: Counter[str] = Counter()
    for path, times in counts.writes.items():
        writes_by[kind_of(path)] += len(times) - writes_before.get(path, 0)
    for kind_ in sorted(set(reads_by) | set(writes_by)):
        if reads_by[kind_] or writes_by[kind_]:
            print(
                f"    {kind_:<24} {reads_by[kind_] / hits:5.2f} reads  "
                f"{writes_by[kind_] / hits:5.2f} writes"
            )
    counts.hits = hits  # type: ignore[attr-defined]
    counts.reads_only, counts.writes_only = reads, writes  # type: ignore[attr-defined]
    if kind == "ours":
        sample = [decode(r["message"]) for r in delivered[: args.cold]]
        cold(client, prefix, config, bus, counts, sample)
    return counts


class EagerStrictness(FirestoreStore):
    """Before: the owner's strictness read with every context (from a minute's cache)."""

    def get_context(self, message_id: str) -> MessageContext | None:
        context = super().get_context(message_id)
        if context is None:
            return None
        return replace(context, strictness=self.owner_strictness(context.message.owner))


def cold(
    client: Any, prefix: str, config: AppConfig, bus: PubsubBus, counts: Counts, payloads: list[Any]
) -> None:
    """Each hit on an instance of its own (a new store and app, as process_hit builds them),
    as a function scaled to zero meets a quiet owner's hits: no cache survives between them.
    Ours reads the owner's settings only for a hit whose verdict they decide; the eager form
    read them with every context. The domain policy (the owner's retention) is read by both."""
    if not payloads:
        return
    # As deployed: the plan gives every function MAILBEACON_SECRET (Secret Manager), so no
    # instance reads the signing key kept in Firestore for keyless clusters.
    config = config.with_core(secret=f"1:{secrets.token_hex(32)}")
    line = []
    for name, cls in (("ours", FirestoreStore), ("eager", EagerStrictness)):
        before = reads_by_kind(counts)
        for payload in payloads:
            store = cls(client, prefix=prefix, flush_interval=0.0)
            app = bootstrap(config, store=store, bus=bus)
            app.consumers.hit({**payload, "id": secrets.token_hex(12)})
        read = reads_by_kind(counts) - before
        parts = ", ".join(f"{k} {n / len(payloads):.2f}" for k, n in sorted(read.items()))
        line.append(f"{name} {sum(read.values()) / len(payloads):.2f} ({parts})")
    print(f"    each hit on a new instance ({len(payloads)} hits), reads per hit:")
    for text in line:
        print(f"      {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--hits-per-message", type=int, default=25)
    parser.add_argument(
        "--concurrency", type=int, default=16, help="hits one instance handles at once"
    )
    parser.add_argument("--cold", type=int, default=100, help="hits each on a new instance")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailbeacon-cost-"))
    firestore = Emulator("Firestore", firestore_command(), work / "firestore.log").start()
    pubsub = Emulator("Pub/Sub", pubsub_command(), work / "pubsub.log").start()
    try:
        hosts = {
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "PUBSUB_EMULATOR_HOST": pubsub.host,
        }
        print(f"cost per hit ({args.messages} messages x {args.hits_per_message} hits)")
        ours = run("ours", FirestoreStore, hosts, args)
        base = run("baseline", AssembledContext, hosts, args)
        ratio_reads = ours.reads_only / base.reads_only  # type: ignore[attr-defined]
        ratio_writes = ours.writes_only / base.writes_only  # type: ignore[attr-defined]
        print(f"  ratio ours/baseline: reads {ratio_reads:.2f}x  writes {ratio_writes:.2f}x")

        # Firestore list prices in us-central1 when written: $0.06 per 100k reads, $0.18 per
        # 100k writes (check yours); Pub/Sub is billed by volume, the same for both.
        def dollars(c: Counts) -> float:
            hits = c.hits  # type: ignore[attr-defined]
            return (0.06 * c.reads_only + 0.18 * c.writes_only) / 1e5 / hits * 1e6  # type: ignore[attr-defined]

        o, b = dollars(ours), dollars(base)
        print(f"  Firestore $ per million hits: ours {o:.2f}  baseline {b:.2f}  ({o / b:.2f}x)")
    finally:
        pubsub.stop()
        firestore.stop()


if __name__ == "__main__":
    main()

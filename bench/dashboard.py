"""The dashboard at scale: one user with 100,000 tracked emails and 1,000,000 events.

Builds the data set on the embedded store (SQLite) through the store's own write path (every
event goes through the summary and day-counter upkeep, batched in transactions of 5,000), then
times each page through the real WSGI app (Flask test client, a signed-in session or a bearer
token): the list's first page and a deep page (row 90,000), a filtered page, the overview over
30 and 365 days, and the email page of the busiest message (23,000 events). Baseline, same run:
a bare indexed lookup of one message (SELECT by primary key). Target: <= 50 ms per page.

With --firestore it also builds a smaller set on the Firestore emulator and counts the reads
each page costs (functions/standins/billing.py, at the client's RPC boundary).

Run: .venv/bin/python bench/dashboard.py [--messages 100000] [--events 1000000]
     [--data-dir DIR (kept and reused)] [--firestore [--fs-messages 2000 --fs-events 20000]]
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.app import create_app  # noqa: E402
from functions.bootstrap import bootstrap  # noqa: E402
from functions.config import AppConfig  # noqa: E402
from mailbeacon.bus.memory import MemoryBus  # noqa: E402
from mailbeacon.model import Event, Link, Message, Verdict  # noqa: E402
from mailbeacon.store import Store  # noqa: E402

USER = "ann@bench.example"
HEAVY_EVENTS = 23_000
CLIENTS = ("gmail", "apple-mail", "outlook", "other")
MACHINE = (Verdict.PREFETCH, Verdict.SCANNER, Verdict.BOT, Verdict.SELF)


def generate(
    messages: int, events: int, now: datetime, seed: int = 7
) -> Iterator[tuple[Message, list[Event]]]:
    """Messages spread over a year, newest last; events skewed (most emails get a few, one
    gets HEAVY_EVENTS), about 60% human."""
    rng = random.Random(seed)
    start = now - timedelta(days=365)
    step = timedelta(days=365) / messages
    remaining = events - HEAVY_EVENTS
    heavy_at = messages // 2
    for i in range(messages):
        created = start + step * i
        message = Message(
            id=f"m{i:07d}{secrets.token_hex(4)}",
            owner=USER,
            recipients=(f"client{rng.randrange(5000)}@example.org",),
            subject=f"Proposal {i} for {rng.choice(('Acme', 'Globex', 'Initech', 'Umbrella'))}",
            created_at=created,
            sent_at=created,
            links=(Link(1, "https://example.com/offer"),),
        )
        if i == heavy_at:
            n = HEAVY_EVENTS
        else:
            left = messages - i
            n = min(remaining, int(rng.expovariate(left / max(remaining, 1)))) if left else 0
            remaining -= n
        found = []
        for _ in range(n):
            at = created + timedelta(seconds=rng.expovariate(1 / 21600))
            if at >= now:
                at = now - timedelta(seconds=rng.random() * 3600)
            human = rng.random() < 0.6
            click = rng.random() < 0.15
            device = rng.randrange(3)
            found.append(
                Event(
                    id=secrets.token_hex(12),
                    message_id=message.id,
                    kind="click" if click else "open",
                    at=at,
                    verdict=Verdict.HUMAN if human else rng.choice(MACHINE),
                    reasons=("bench",),
                    client=rng.choice(CLIENTS),
                    link_index=1 if click else None,
                    url="https://example.com/offer" if click else None,
                    ip_hash=f"h{device}",
                    network="203.0.113.0/24",
                    user_agent=f"UA{device}",
                    expires_at=at + timedelta(days=400),
                )
            )
        yield message, found


def build(store: Store, messages: int, events: int, now: datetime, batch: int = 5000) -> str:
    """Fill ``store``; returns the busiest message's id."""
    pending: list[Event] = []
    heavy = ""
    started = time.monotonic()
    add_events = getattr(store, "add_events", None)
    for i, (message, found) in enumerate(generate(messages, events, now)):
        store.add_message(message)
        if len(found) == HEAVY_EVENTS:
            heavy = message.id
        pending.extend(found)
        if len(pending) >= batch or i == messages - 1:
            if add_events is not None:
                add_events(pending)
            else:
                for event in pending:
                    store.add_event(event)
            pending = []
        if i and i % 10_000 == 0:
            print(f"  built {i} messages in {time.monotonic() - started:.0f} s", flush=True)
    return heavy


def timed(fn: Callable[[], Any], runs: int = 15) -> float:
    """Median wall time of ``fn`` in milliseconds, after two warm-up calls."""
    fn()
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def signed_in_client(web: Any) -> Any:
    client = web.test_client()
    page = client.get("/dashboard/signin").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = client.post("/dashboard/signin/dev", data={"email": USER, "csrf": csrf})
    assert answer.status_code == 303, answer.status_code
    return client


def pages(
    client: Any, heavy: str, deep_cursor: str | None, heavy_events: int, deep_row: int
) -> dict[str, Callable[[], Any]]:
    bearer = {"Authorization": f"Bearer dev:{USER}"}

    def get(path: str, **kw: Any) -> Callable[[], Any]:
        def run() -> Any:
            response = client.get(path, **kw)
            assert response.status_code == 200, (path, response.status_code)
            return response.get_data()

        return run

    found = {
        "list page 1 (HTML)": get("/dashboard/messages"),
        "list page 1 (API, 50 rows)": get("/api/v1/messages", headers=bearer),
        "list, clicked only (API)": get("/api/v1/messages?status=clicked", headers=bearer),
        "search, common word (API)": get("/api/v1/messages?q=initech", headers=bearer),
        "search, one recipient (API)": get("/api/v1/messages?q=client4242@", headers=bearer),
        "overview 30 days (HTML)": get("/dashboard/overview"),
        "overview 30 days (API)": get("/api/v1/overview", headers=bearer),
        "overview 365 days (HTML)": get(
            f"/dashboard/overview?since={(datetime.now(UTC) - timedelta(days=365)).date()}"
        ),
        "overview 365 days (API)": get(
            f"/api/v1/overview?since={(datetime.now(UTC) - timedelta(days=365)).date()}",
            headers=bearer,
        ),
        f"email page, {heavy_events:,} events (HTML)": get(f"/dashboard/messages/{heavy}"),
        f"email detail, {heavy_events:,} events (API)": get(
            f"/api/v1/messages/{heavy}", headers=bearer
        ),
    }
    if deep_cursor:
        found[f"list deep page, row {deep_row:,} (HTML)"] = get(
            f"/dashboard/messages?cursor={deep_cursor}"
        )
        found[f"list deep page, row {deep_row:,} (API)"] = get(
            f"/api/v1/messages?cursor={deep_cursor}", headers=bearer
        )
    return found


def deep_cursor(store: Any, row: int) -> str | None:
    from mailbeacon.reporting import _encode

    row = store.db.read(
        "SELECT created_at, id FROM messages WHERE owner = ? ORDER BY created_at DESC, id DESC "
        "LIMIT 1 OFFSET ?",
        (USER, row - 1),
    )
    return _encode({"s": "newest", "k": row[0][0], "i": row[0][1]}) if row else None


def run_sqlite(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="mb-bench-"))
    config = AppConfig.local(data_dir, insecure_dev_auth=True)
    app = bootstrap(config, bus=MemoryBus())
    store: Any = app.store
    marker = data_dir / f"built-{args.messages}-{args.events}"
    now = datetime.now(UTC)
    if marker.exists():
        heavy = marker.read_text().strip()
        print(f"reusing the data set in {data_dir}")
    else:
        print(f"building {args.messages:,} messages / {args.events:,} events in {data_dir} ...")
        started = time.monotonic()
        heavy = build(store, args.messages, args.events, now)
        marker.write_text(heavy)
        print(f"built in {time.monotonic() - started:.0f} s")
    (count,) = store.db.read("SELECT COUNT(*) FROM events")[0]
    print(f"events stored: {count:,}")
    web = create_app(app)
    client = signed_in_client(web)
    some_id = store.db.read("SELECT id FROM messages LIMIT 1 OFFSET ?", (args.messages // 2,))[0][0]
    baseline = timed(lambda: store.db.read("SELECT * FROM messages WHERE id = ?", (some_id,)))
    print(f"\nbaseline: one message by primary key: {baseline:.3f} ms")
    print(f"{'page':40} {'ms':>8} {'x baseline':>11}  target <= 50 ms")
    deep = min(90_000, args.messages - 60)
    found = pages(client, heavy, deep_cursor(store, deep), HEAVY_EVENTS, deep)
    for name, fn in found.items():
        ms = timed(fn)
        flag = "ok" if ms <= 50 else "SLOW"
        print(f"{name:40} {ms:8.2f} {ms / baseline:11.0f}  {flag}")
    app.close()


def run_firestore(args: argparse.Namespace) -> None:
    import os

    from google.cloud import firestore

    from functions.standins.billing import Counts, count_firestore
    from functions.standins.emulators import Emulator, firestore_command
    from mailbeacon.store.firestore import FirestoreStore

    work = Path(tempfile.mkdtemp(prefix="mb-bench-fs-"))
    emulator = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        emulator = Emulator("Firestore", firestore_command(), work / "firestore.log").start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        counts = Counts()
        client = count_firestore(firestore.Client(project="mailbeacon-bench"), counts)
        store = FirestoreStore(client, prefix=f"b{secrets.token_hex(3)}_", flush_interval=0)
        print(f"\nFirestore emulator: {args.fs_messages:,} messages / {args.fs_events:,} events")
        global HEAVY_EVENTS
        HEAVY_EVENTS = min(HEAVY_EVENTS, args.fs_events // 4)
        heavy = build(store, args.fs_messages, args.fs_events, datetime.now(UTC), batch=500)
        config = AppConfig.local(work, insecure_dev_auth=True)
        app = bootstrap(config, store=store, bus=MemoryBus())
        client_web = signed_in_client(create_app(app))
        first = client_web.get(
            "/api/v1/messages?limit=50", headers={"Authorization": f"Bearer dev:{USER}"}
        ).get_json()
        cursor = first["next_cursor"]
        found = pages(client_web, heavy, cursor, HEAVY_EVENTS, 50)
        print(f"{'page':40} {'reads':>6}")
        for name, fn in found.items():
            fn()  # the session lookup is one read of its record, counted too
            before = counts.reads
            fn()
            print(f"{name:40} {counts.reads - before:6d}")
        app.close()
    finally:
        if emulator is not None:
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data-dir")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--firestore", action="store_true")
    parser.add_argument("--fs-messages", type=int, default=2000)
    parser.add_argument("--fs-events", type=int, default=20_000)
    args = parser.parse_args()
    if not args.skip_sqlite:
        run_sqlite(args)
    if args.firestore:
        run_firestore(args)


if __name__ == "__main__":
    main()

"""How much the add-on's card building costs over the data it shows.

Ours: the homepage handler (list 10 messages, summarise their events, build and JSON-encode the
card) and the detail card of a busy message. Baseline, in the same run: the same reads plus the
`stats` contract JSON (what the CLI prints) for the same messages, no cards. Prints both and
the ratio.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from addon.config import AddonConfig
from addon.events import AddonEvent
from addon.handlers import Handlers
from addon.identity import User
from functions.bootstrap import bootstrap
from functions.config import AppConfig
from mailbeacon.clock import FixedClock
from mailbeacon.google.gmail import GmailReader
from mailbeacon.model import Event, Verdict
from mailbeacon.stats import get_stats
from mailbeacon.store.memory import MemoryStore
from mailbeacon.tracking import track_message

USER = "sam@example.com"


def timed(fn, rounds: int, repeats: int = 5) -> float:
    """Best per-call time in microseconds over ``repeats`` batches (the machine is shared)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds * 1e6)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock(datetime.now(UTC) - timedelta(hours=1))
        app = bootstrap(
            AppConfig.local(Path(tmp), public_url="https://mb.example.com"),
            clock=clock,
            store=MemoryStore(),
        )
        ids = []
        for i in range(10):
            m = track_message(
                app.store,
                app.urls,
                clock,
                records=app.store,
                sender=USER,
                recipients=["a@x.org"],
                subject=f"Subject {i} <&>",
            ).message
            ids.append(m.id)
            for j in range(20 if i else 150):
                verdict = Verdict.HUMAN if j % 3 else Verdict.SCANNER
                app.store.add_event(
                    Event(
                        f"{i}-{j}",
                        m.id,
                        "open",
                        clock.now(),
                        verdict,
                        ("gmail-image-proxy",),
                        "gmail",
                    )
                )
            clock.advance(seconds=1)
        handlers = Handlers(
            app, AddonConfig(base_url="https://mb.example.com"), GmailReader("http://127.0.0.1:9/")
        )
        user, event = User(USER), AddonEvent(timezone="Europe/Paris")
        detail = AddonEvent(timezone="Europe/Paris", parameters={"message_id": ids[0]})

        cases = {
            "homepage card (10 emails)": (
                lambda: json.dumps(handlers.homepage(event, user)),
                lambda: json.dumps(
                    [
                        get_stats(app.store, m.id)
                        for m in app.store.list_messages(USER, limit=11)[:10]
                    ]
                ),
            ),
            "detail card (150 events)": (
                lambda: json.dumps(handlers.detail(detail, user)),
                lambda: json.dumps(get_stats(app.store, ids[0], USER)),
            ),
        }
        for name, (ours, baseline) in cases.items():
            a, b = timed(ours, 100), timed(baseline, 100)
            print(f"{name}: ours {a:8.1f} us  baseline (stats JSON) {b:8.1f} us  ratio {a / b:.2f}")
        app.close()


if __name__ == "__main__":
    main()

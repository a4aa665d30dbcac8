"""The live feed keeps each owner's last KEEP of events, and a sweep reads only what expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mailbeacon import live
from mailbeacon.model import Event, Message, Verdict
from mailbeacon.store.memory import MemoryStore

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
M = Message(
    id="m1", owner="ann@example.com", recipients=("bob@example.org",), subject="Hi", created_at=T0
)


class ReadCounting(MemoryStore):
    """The memory store, counting the feed entries each listing returns."""

    listed = 0

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        found = super().list_records(namespace, prefix, limit=limit)
        self.listed += len(found) if namespace == live.FEED else 0
        return found


def _event(n: int, at: datetime) -> Event:
    return Event(
        id=f"e{n:05d}",
        message_id=M.id,
        kind="open",
        at=at,
        verdict=Verdict.HUMAN,
        reasons=(),
        client="gmail",
    )


def test_the_feed_keeps_the_last_window_and_sweeps_read_only_expired_minutes() -> None:
    records = ReadCounting()
    for n in range(2 * 60 * 30):  # an event every 2 s for two hours
        now = T0 + timedelta(seconds=2 * n)
        records.listed = 0
        live.append(records, M, _event(n, now), now)
        # a sweep (once a minute) reads the minutes that expired since the last one, never
        # the whole 15-minute window of 450 entries
        assert records.listed <= 3 * 30 + 2 or n == 0
    keys = [k for k, _ in records.list_records(live.FEED, prefix=f"{M.owner}|")]
    oldest_kept = keys[0].split("|")[1]
    assert (
        oldest_kept >= (now - live.KEEP - live.SWEEP_EVERY).isoformat().replace("+00:00", "Z")[:16]
    )
    assert len(keys) <= (live.KEEP + live.SWEEP_EVERY).total_seconds() / 2 + 1
    assert keys[-1].endswith(f"|e{n:05d}")

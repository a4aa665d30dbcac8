"""Counting: only human verdicts are engagement; machine hits are shown apart, with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbeacon.model import Event, Link, Message, Verdict
from mailbeacon.summary import message_stats, summarize

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = Message(
    "m" * 16, "s@example.com", ("r@example.com",), "Hi", T0, T0, (Link(1, "u"), Link(2, "v"))
)
_n = iter(range(10**6))


def ev(kind="open", verdict=Verdict.HUMAN, t=3600.0, ip="a", ua="UA", link=None, reasons=("x",)):
    return Event(
        f"e{next(_n)}",
        MESSAGE.id,
        kind,
        T0 + timedelta(seconds=t),
        verdict,
        reasons,
        "other",
        link,
        None,
        ip,
        "",
        ua,
    )


def test_machine_hits_alone_leave_the_message_sent() -> None:
    s = summarize(
        [
            ev(verdict=Verdict.PREFETCH, reasons=("apple-mpp-user-agent",)),
            ev(verdict=Verdict.SCANNER, reasons=("network:microsoft-eop",)),
            ev("click", Verdict.SCANNER, reasons=("network:microsoft-eop",)),
        ]
    )
    assert (s.status, s.human_opens, s.machine_opens, s.machine_clicks) == ("sent", 0, 2, 1)
    assert s.machine_by_verdict == {"prefetch": 1, "scanner": 2}
    assert s.machine_by_reason == {"apple-mpp-user-agent": 1, "network:microsoft-eop": 2}
    assert s.first_opened_at is None


def test_unique_human_opens_are_per_device_and_day() -> None:
    s = summarize(
        [
            ev(t=100),
            ev(t=200),  # same device, same day: one
            ev(t=300, ua="Other UA"),  # another device
            ev(t=100 + 86400),  # the first device the next day
            ev(t=400, ip="b"),  # another address
        ]
    )
    assert (s.human_opens, s.unique_human_opens, s.status) == (5, 4, "opened")


def test_a_human_click_implies_an_open() -> None:
    s = summarize([ev("click", link=1, t=500), ev(verdict=Verdict.SCANNER, t=5)])
    assert (s.status, s.human_opens, s.unique_human_opens, s.implied_opens) == ("clicked", 1, 1, 1)
    assert s.first_opened_at == T0 + timedelta(seconds=500)
    with_open = summarize([ev(t=400), ev("click", link=1, t=500, ip="b")])
    assert (with_open.human_opens, with_open.implied_opens) == (1, 0)


def test_stats_show_a_scanner_walking_the_links_as_a_scanner_in_hindsight() -> None:
    events = [
        ev("open", t=7200, ip="w"),
        ev("click", link=1, t=7200.5, ip="w"),
        ev("click", Verdict.SCANNER, link=2, t=7201, ip="w", reasons=("link-burst",)),
        ev("click", link=1, t=9000, ip="person"),
    ]
    stats = message_stats(MESSAGE, events)
    verdicts = [e["verdict"] for e in stats["events"]]
    assert verdicts == ["scanner", "scanner", "scanner", "human"]
    assert stats["events"][0]["reasons"] == ["x", "link-burst"]
    assert stats["clicks"] == {"human": 1, "machine": 2}
    assert stats["opens"]["machine"] == 1
    assert stats["machine"]["by_reason"]["link-burst"] == 3

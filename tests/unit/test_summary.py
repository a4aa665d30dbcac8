"""Counting: only human verdicts are engagement; machine hits are shown apart, with reasons;
hindsight relabels move counts, and the counts always equal a replay of the stored events."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mailbeacon.daycounts import event_days, merge_days, message_added
from mailbeacon.model import Event, Link, Message, Verdict
from mailbeacon.rollup import Summary, apply_event, relabel_event
from mailbeacon.summary import Tally, message_stats, summarize

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = Message(
    "m" * 16, "s@example.com", ("r@example.com",), "Hi", T0, T0, (Link(1, "u"), Link(2, "v"))
)
_n = iter(range(10**6))


def ev(kind="open", verdict=Verdict.HUMAN, t=3600.0, ip="a", ua="UA", link=None, reasons=("x",)):
    return Event(
        f"e{next(_n):06d}",
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
        MESSAGE,
        [
            ev(verdict=Verdict.PREFETCH, reasons=("apple-mpp-user-agent",)),
            ev(verdict=Verdict.SCANNER, reasons=("network:microsoft-eop",)),
            ev("click", Verdict.SCANNER, reasons=("network:microsoft-eop",)),
        ],
    )
    assert (s.status, s.human_opens, s.machine_opens, s.machine_clicks) == ("sent", 0, 2, 1)
    assert dict(s.machine_by_verdict) == {"prefetch": 1, "scanner": 2}
    assert dict(s.machine_by_reason) == {"apple-mpp-user-agent": 1, "network:microsoft-eop": 2}
    assert s.first_opened_at is None


def test_unique_human_opens_are_per_device_and_day() -> None:
    s = summarize(
        MESSAGE,
        [
            ev(t=100),
            ev(t=200),  # same device, same day: one
            ev(t=300, ua="Other UA"),  # another device
            ev(t=100 + 86400),  # the first device the next day
            ev(t=400, ip="b"),  # another address
        ],
    )
    assert (s.human_opens, s.unique_human_opens, s.status) == (5, 4, "opened")


def test_a_human_click_implies_an_open() -> None:
    s = summarize(MESSAGE, [ev("click", link=1, t=500), ev(verdict=Verdict.SCANNER, t=5)])
    counts = s.public_counts()
    assert (s.status, counts["opens"]["human"], counts["opens"]["unique_human"]) == (
        "clicked",
        1,
        1,
    )
    assert s.implied_opens == 1 and s.first_opened_at == T0 + timedelta(seconds=500)
    with_open = summarize(MESSAGE, [ev(t=400), ev("click", link=1, t=500, ip="b")])
    assert (with_open.human_opens, with_open.implied_opens) == (1, 0)


def test_stats_read_the_summary_they_are_given_and_list_every_event() -> None:
    events = [ev("open", t=7200, ip="w"), ev("click", link=2, t=9000, ip="p")]
    stats = message_stats(MESSAGE, summarize(MESSAGE, events), events)
    assert stats["status"] == "clicked" and stats["clicks"] == {"human": 1, "machine": 0}
    assert [link["human_clicks"] for link in stats["links"]] == [0, 1]
    assert [e["verdict"] for e in stats["events"]] == ["human", "human"]


def scanner(event: Event, why: str = "link-burst") -> Event:
    return replace(event, verdict=Verdict.SCANNER, reasons=(*event.reasons, why))


def test_a_relabelling_moves_every_count_as_if_the_event_had_been_a_scanner_all_along() -> None:
    walk_open = ev("open", t=7200, ip="w")
    walk_click = ev("click", link=1, t=7200.5, ip="w")
    person = ev("click", link=2, t=9000, ip="p", ua="Person")
    tally = Tally(MESSAGE)
    for event in (walk_open, walk_click, person):
        tally.add(event)
    assert tally.summary.status == "clicked" and tally.summary.human_clicks == 2
    tally.add(ev("click", Verdict.SCANNER, link=2, t=7201, ip="w"), [scanner(walk_open)])
    tally.add(ev("open", Verdict.SCANNER, t=7201.2, ip="w"), [scanner(walk_click)])
    s = tally.summary
    assert (s.human_opens, s.human_clicks, s.machine_opens, s.machine_clicks) == (0, 1, 2, 2)
    assert s.first_opened_at == person.at and s.last_opened_at == person.at
    assert dict(s.link_clicks) == {2: 1} and s.unique_human_opens == 0
    assert dict(s.machine_by_reason)["link-burst"] == 2
    expected = summarize(MESSAGE, list(tally.events.values()))
    assert s == expected


def test_relabelling_the_only_person_leaves_the_message_not_opened_and_moves_the_days() -> None:
    click = ev("click", link=1, t=30, ip="w")
    summary, days = apply_event(MESSAGE, Summary(), click, new_device=False)
    day = T0.date().isoformat()
    assert days[day]["opened"] == 1 and days[day]["clicked"] == 1 and days[day]["clicks"] == 1
    after, moved = relabel_event(
        MESSAGE, summary, click, scanner(click), first=None, last=None, device_gone=False
    )
    assert after.status == "sent" and after.first_opened_at is None and after.ttfo is None
    total = merge_days(merge_days({}, days), moved)
    assert total == event_days(scanner(click))  # opened, clicked, ttfo and clicks all gone


def test_any_relabelling_leaves_summary_and_days_equal_to_a_replay() -> None:
    rng = random.Random(23)
    for _ in range(300):
        events = []
        for _ in range(rng.randrange(1, 12)):
            kind = rng.choice(("open", "click"))
            events.append(
                ev(
                    kind,
                    rng.choice((Verdict.HUMAN, Verdict.HUMAN, Verdict.PREFETCH)),
                    t=rng.uniform(0, 3 * 86400),
                    ip=rng.choice("abc"),
                    ua=rng.choice(("U1", "U2")),
                    link=rng.choice((1, 2)) if kind == "click" else None,
                )
            )
        live = Tally(MESSAGE)
        for event in sorted(events, key=lambda e: (e.at, e.id)):
            live.add(event)
        humans = [e for e in live.events.values() if e.is_human]
        for target in rng.sample(humans, k=min(len(humans), rng.randrange(0, 4))):
            live.add(ev(verdict=Verdict.BOT, t=rng.uniform(0, 10)), [scanner(target)])
        replayed = Tally(MESSAGE)
        for event in sorted(live.events.values(), key=lambda e: (e.at, e.id)):
            replayed.add(event)
        assert live.summary == replayed.summary
        assert live.days == replayed.days


def test_event_days_count_each_series_per_day_and_per_hour() -> None:
    at = T0 + timedelta(hours=5)
    click = replace(ev("click", link=1), at=at)
    assert event_days(click) == {"2026-03-02": {"clicks": 1, "clicks@14": 1}}
    tracked = merge_days({}, message_added(MESSAGE))
    assert tracked == {"2026-03-02": {"messages": 1, "messages@9": 1}}

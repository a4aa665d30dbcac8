"""The notification rules, as a pure function of the event, its history and the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.model import Event, Message, Notify, QuietHours, Settings, Verdict
from notifier.decide import Action, AlertKind, LastAlert, decide, in_quiet_hours

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = Message("m1", "ana@example.com", ("bo@example.org",), "Plan", T0 - timedelta(days=1))


def event(minutes: float, kind: str = "open", verdict: Verdict = Verdict.HUMAN, **kw) -> Event:  # type: ignore[no-untyped-def]
    return Event(
        id=f"e{minutes:g}{kind}", message_id="m1", kind=kind, at=T0 + timedelta(minutes=minutes),  # type: ignore[arg-type]
        verdict=verdict, reasons=(), client="gmail", **kw,
    )  # fmt: skip


def settings(**kw) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(user="ana@example.com", **kw)


@pytest.mark.parametrize("verdict", [Verdict.SELF, Verdict.PREFETCH, Verdict.SCANNER, Verdict.BOT])
def test_only_human_verdicts_notify(verdict: Verdict) -> None:
    e = event(0, verdict=verdict)
    assert decide(e, MESSAGE, settings(), [], None, T0).action is Action.DROP


def test_first_open_notifies_at_once() -> None:
    e = event(0)
    decision = decide(e, MESSAGE, settings(), [e], None, T0)
    assert (
        decision.action is Action.SEND
        and decision.alert
        and decision.alert.kind is AlertKind.OPENED
    )


def test_an_earlier_open_processed_after_a_later_ones_alert_is_not_a_second_first_open() -> None:
    """Pub/Sub, or two edge processes' spool lanes, may hand the later of two opens over
    first: it was told as the first open, and the earlier one must not be told again."""
    earlier, later = event(0), event(0.5)
    told = decide(later, MESSAGE, settings(), [later], None, T0 + timedelta(minutes=1))
    assert told.action is Action.SEND and told.alert.kind is AlertKind.OPENED  # type: ignore[union-attr]
    last = LastAlert(T0 + timedelta(minutes=1), later.at)
    for notify in (Notify.EVERY_OPEN, Notify.FIRST_OPEN):
        again = decide(
            earlier,
            MESSAGE,
            settings(notify=notify),
            [earlier, later],
            last,
            T0 + timedelta(minutes=2),
        )
        assert again.action is Action.DROP


def test_first_open_mode_says_nothing_about_later_opens_but_tells_clicks() -> None:
    first, second = event(0), event(3)
    last = LastAlert(T0, first.at)
    assert (
        decide(
            second, MESSAGE, settings(), [first, second], last, T0 + timedelta(minutes=30)
        ).action
        is Action.DROP
    )
    click = event(4, "click", url="https://example.com/p", link_index=1)
    decision = decide(click, MESSAGE, settings(), [first, second], last, T0)
    assert decision.action is Action.SEND and decision.alert.kind is AlertKind.CLICKED  # type: ignore[union-attr]
    assert decision.alert.event.url == "https://example.com/p"  # type: ignore[union-attr]


def test_repeat_opens_in_the_window_become_one_opened_again_alert() -> None:
    every = settings(notify=Notify.EVERY_OPEN)
    first, a, b, c = event(0), event(1), event(2), event(4)
    opens = [first, a, b, c]
    last = LastAlert(sent_at=T0, covered_until=first.at)
    now = T0 + timedelta(minutes=4)
    for e in (a, b, c):  # inside the window: wait until it closes
        decision = decide(e, MESSAGE, every, opens, last, now)
        assert decision.action is Action.WAIT and decision.wait_until == T0 + timedelta(minutes=10)
    after = T0 + timedelta(minutes=10)
    results = [decide(e, MESSAGE, every, opens, last, after) for e in (a, b, c)]
    assert [r.action for r in results] == [Action.DROP, Action.DROP, Action.SEND]
    alert = results[-1].alert
    assert alert and alert.kind is AlertKind.OPENED_AGAIN and alert.count == 3
    assert alert.headline == "“Plan” was opened again (3 times)"
    # once that alert went out, the same events are covered: a redelivery says nothing new
    covered = LastAlert(sent_at=after, covered_until=c.at)
    assert decide(c, MESSAGE, every, opens, covered, after).action is Action.DROP


def test_an_open_after_a_quiet_window_is_told_at_once() -> None:
    first, later = event(0), event(45)
    last = LastAlert(sent_at=T0, covered_until=first.at)
    decision = decide(
        later,
        MESSAGE,
        settings(notify=Notify.EVERY_OPEN),
        [first, later],
        last,
        T0 + timedelta(minutes=45),
    )
    assert decision.action is Action.SEND and decision.alert.count == 1  # type: ignore[union-attr]
    assert decision.alert.headline == "“Plan” was opened again"  # type: ignore[union-attr]


def test_the_window_is_configurable() -> None:
    first, again = event(0), event(1)
    last = LastAlert(sent_at=T0, covered_until=first.at)
    now = T0 + timedelta(minutes=2)
    every = settings(notify=Notify.EVERY_OPEN)
    assert (
        decide(again, MESSAGE, every, [first, again], last, now, window=timedelta(minutes=1)).action
        is Action.SEND
    )


@pytest.mark.parametrize(
    ("notify", "kind", "expected"),
    [
        (Notify.OFF, "open", Action.DROP),
        (Notify.OFF, "click", Action.DROP),
        (Notify.CLICKS, "open", Action.DROP),
        (Notify.CLICKS, "click", Action.SEND),
        (Notify.EVERY_OPEN, "click", Action.SEND),
    ],
)
def test_notify_levels(notify: Notify, kind: str, expected: Action) -> None:
    e = event(0, kind)
    assert (
        decide(e, MESSAGE, settings(notify=notify), [e] if kind == "open" else [], None, T0).action
        is expected
    )


def test_a_muted_email_says_nothing() -> None:
    e = event(0)
    assert decide(e, MESSAGE, settings(muted=("m1",)), [e], None, T0).action is Action.DROP


def test_quiet_hours_hold_alerts_for_the_digest_in_the_users_time_zone() -> None:
    quiet = settings(quiet_hours=QuietHours(22, 7), timezone="Europe/Berlin")
    e = event(0)
    night = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    decision = decide(e, MESSAGE, quiet, [e], None, night)
    assert decision.action is Action.HOLD and decision.alert is not None
    morning = datetime(2026, 3, 3, 6, 30, tzinfo=UTC)  # 07:30 in Berlin: quiet hours are over
    assert decide(e, MESSAGE, quiet, [e], None, morning).action is Action.SEND


@pytest.mark.parametrize(
    ("start", "end", "hour", "quiet"),
    [
        (22, 7, 23, True),
        (22, 7, 3, True),
        (22, 7, 7, False),
        (22, 7, 12, False),
        (12, 14, 13, True),
        (12, 14, 14, False),
    ],
)
def test_quiet_hours_wrap_past_midnight(start: int, end: int, hour: int, quiet: bool) -> None:
    at = T0.replace(hour=hour)
    assert in_quiet_hours(QuietHours(start, end), "UTC", at) is quiet

"""The readers every boundary shares for numbers, secrets and times people send, and the
display of a time stored before input times were bounded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.dashboard.views.domain import policy_change
from functions.edge.answers import _location
from functions.edge.tracking import Outcome
from mailbeacon.clock import time_from_input
from mailbeacon.errors import InvalidInput
from mailbeacon.localtime import local
from mailbeacon.tokens import same_secret
from mailbeacon.validation import whole_number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("7", 7),
        ("007", 7),
        ("123456", 123456),
        ("1234567", None),
        ("", None),
        ("²", None),
        ("٣", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_0", None),
    ],
)
def test_a_whole_number_is_a_few_ascii_digits(text: str, number: int | None) -> None:
    assert whole_number(text) == number


def test_secrets_compare_whatever_they_hold() -> None:
    assert same_secret("abc", "abc") and not same_secret("abc", "abd")
    assert not same_secret("abc", "é") and not same_secret("abc", "\ud800")
    assert same_secret("é\ud800", "é\ud800")


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9001-01-01"])
def test_input_times_stay_within_the_years_we_keep(when: str) -> None:
    with pytest.raises(ValueError, match="1970 and 9000"):
        time_from_input(when)
    assert time_from_input("2026-12-08T10:00:00+01:00") == datetime(2026, 12, 8, 9, tzinfo=UTC)


def test_a_time_stored_in_year_one_is_shown_in_utc_where_a_zone_would_leave_the_calendar() -> None:
    stored = datetime(1, 1, 1, tzinfo=UTC)
    assert local(stored, "America/Los_Angeles") == stored
    assert local(stored, "Asia/Tokyo").hour == 9  # east of UTC it is still on the calendar


def test_a_click_on_a_link_stored_with_a_bad_port_is_still_redirected() -> None:
    assert _location(Outcome(302, location="http://x:99999/a b")) == b"http://x:99999/a%20b"
    assert _location(Outcome(302, location="https://example.com/é")) == (
        b"https://example.com/%C3%A9"
    )


@pytest.mark.parametrize("days", ["²", "٣", "9" * 5000])
def test_the_domain_form_refuses_a_retention_that_is_not_a_few_digits(days: str) -> None:
    form = {"retention_days": days, "admins": "ana@example.com"}
    with pytest.raises(InvalidInput, match="whole number"):
        policy_change(form, "ana@example.com")

"""Card builders: user text escaped, platform limits enforced while building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from addon import cards as c
from addon import views
from mailbeacon.rollup import Summary
from tests.support.addon import check_response


def test_user_text_is_escaped_everywhere_it_is_rendered() -> None:
    hostile = '<script>alert("x")</script> & <a href="javascript:x">'
    card = c.card(
        hostile,
        [
            c.section(
                [
                    c.paragraph(hostile),
                    c.decorated(hostile, top=hostile, bottom=hostile),
                    c.selection("pick", hostile, [("a", hostile)], "a", kind="DROPDOWN"),
                    c.text_input("field", hostile, hint=hostile),
                ],
                hostile,
            )
        ],
    )
    check_response(c.push_card(card))  # the checker fails on any unescaped < > or &
    assert card["sections"][0]["widgets"][0]["textParagraph"]["text"].startswith("&lt;script&gt;")


def test_escaping_shortens_long_text_to_fit_after_escaping() -> None:
    text = c.esc("&" * 5000, 100)
    assert len(text) <= 100 and text.endswith("…") and text.startswith("&amp;")
    assert c.esc("short") == "short"


def test_a_section_holds_at_most_100_widgets() -> None:
    c.section([c.divider()] * 100)
    with pytest.raises(c.CardError, match="at most 100 widgets"):
        c.section([c.divider()] * 101)
    with pytest.raises(c.CardError):
        c.section([])


def test_a_card_holds_at_most_100_sections_and_long_titles_are_cut() -> None:
    section = c.section([c.divider()])
    with pytest.raises(c.CardError):
        c.card("t", [section] * 101)
    assert len(c.card("x" * 999, [section])["header"]["title"]) == 200


def test_selection_and_draft_update_limits() -> None:
    with pytest.raises(c.CardError):
        c.selection("s", "S", [(str(i), str(i)) for i in range(101)], "1", kind="DROPDOWN")
    with pytest.raises(c.CardError):
        c.update_draft("<b>x</b>", "REPLACE", content_type="IMMUTABLE_HTML")
    with pytest.raises(c.CardError):
        c.decorated(
            "t",
            end_button=c.button("b", c.open_link("https://x.example/")),
            switch=c.switch("s", True),
        )
    with pytest.raises(c.CardError):
        c.button("x" * 61, c.open_link("https://x.example/"))


def _summary(**kw) -> Summary:
    return Summary(**kw)


def test_status_lines_say_what_a_sender_wants_to_know() -> None:
    at = datetime(2026, 7, 1, 14, 5, tzinfo=UTC)
    assert views.status(_summary(), "UTC") == "Not opened yet"
    opened = _summary(status="opened", human_opens=3, last_opened_at=at)
    assert views.status(opened, "Europe/Paris") == "Opened 3 times, last at Jul 1, 16:05 CEST"
    clicked = _summary(status="clicked", human_opens=1, human_clicks=2, last_opened_at=at)
    expected = "Clicked (2 clicks). Opened once, last at Jul 1, 14:05 UTC"
    assert views.status(clicked, "UTC") == expected
    assert views.machine_note(_summary(machine_opens=2, machine_clicks=1)).startswith("3 machine")
    assert views.when(at - timedelta(days=1), "Not/AZone") == "Jun 30, 14:05 UTC"

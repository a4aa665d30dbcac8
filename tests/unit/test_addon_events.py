"""Parsing the add-on event object, including malformed bodies from the network."""

from __future__ import annotations

import json

import pytest

from addon.events import parse_event
from mailbeacon.errors import InvalidInput
from tests.support.addon import event


def test_compose_event_recipients_tokens_and_time_zone() -> None:
    parsed = parse_event(json.dumps(event("compose")).encode())
    assert parsed.to == ("ada@example.org", "grace@example.net")
    assert parsed.recipients == (
        "ada@example.org",
        "grace@example.net",
        "linus@example.com",
        "archive@example.com",
    )
    assert parsed.timezone == "America/New_York" and parsed.host_app == "GMAIL"
    assert parsed.user_oauth_token.startswith("ya29.")


def test_button_press_form_inputs_and_parameters() -> None:
    parsed = parse_event(event("compose_link_click"))
    assert parsed.value("link_url") == "https://example.com/deck?q=1&r=<2>"
    assert parsed.parameters == {"message_id": "REPLACED-BY-TEST", "pixel": "yes"}
    assert parsed.value("missing", "dflt") == "dflt" and not parsed.checked("missing")


def test_contextual_event_message_and_access_token() -> None:
    parsed = parse_event(event("message"))
    assert (parsed.message_id, parsed.gmail_access_token) == (
        "18c5f0e1a2b3c4d5",
        "AKeBgvW-test-gmail-access-token",
    )


def test_apps_script_draft_metadata_and_odd_shapes() -> None:
    parsed = parse_event(
        {
            "draftMetadata": {
                "toRecipients": ["A@X.org", {"email": "b@y.org"}, 7, "not-an-address"]
            },
            "commonEventObject": {
                "parameters": {"ok": "1", "bad": 3},
                "formInputs": {
                    "when": {"dateTimeInput": {"msSinceEpoch": 1700000000000}},
                    "at": {"timeInput": {"hours": 9, "minutes": 30}},
                    "junk": "x",
                },
            },
        }
    )
    assert parsed.to == ("a@x.org", "b@y.org")
    assert parsed.parameters == {"ok": "1"}
    assert parsed.value("when") == "1700000000000" and parsed.value("at") == "9:30"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b"x" * (1 << 21)])
def test_malformed_bodies_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_event(body)


def test_an_empty_body_is_an_empty_event() -> None:
    assert parse_event(b"  ").recipients == ()

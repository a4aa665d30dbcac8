"""The settings form's strict validation (webhooks only on the platform's own host)."""

from __future__ import annotations

import pytest

from addon.events import AddonEvent
from addon.settings_form import parse_settings
from mailbeacon.errors import InvalidInput
from mailbeacon.model import Settings
from mailbeacon.settings import AlertRules


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T/B/X",
        "https://hooks.slack.com.evil.example/services/T/B/X",
        "https://evil.example/hooks.slack.com/services/T/B/X",
        "https://hooks.slack.com@evil.example/services/T/B/X",
        "https://a:b@hooks.slack.com/services/T/B/X",
        "https://hooks.slack.com:8443/services/T/B/X",
        "https://hooks.slack.com/api/other",
        "https://hooks.slack.com/services/",
        "https://hooks.slack.com/services/T/B/X Y",
        "https://hooks.slack.com/services/T/B/\u00e9",
        "hooks.slack.com/services/T/B/X",
        "https://[::1/services",
    ],
)
def test_slack_webhooks_that_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        AlertRules().check_webhook(url, "slack")


def test_webhooks_that_are_accepted() -> None:
    slack = "https://hooks.slack.com/services/T0/B0/abc"
    assert AlertRules().check_webhook(slack, "slack") == slack
    chat = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t"
    assert AlertRules().check_webhook(chat, "chat") == chat
    with pytest.raises(InvalidInput):
        AlertRules().check_webhook(slack, "chat")


def form(**values: str) -> AddonEvent:
    return AddonEvent(form={k: (v,) for k, v in values.items()}, timezone="Asia/Tokyo")


def test_app_dm_modes_clear_webhooks_and_time_zone_comes_from_the_event() -> None:
    current = Settings(user="u@x.org", slack_webhook="https://hooks.slack.com/services/a/b/c")
    _, updated, errors = parse_settings(
        current, form(slack_mode="app", chat_mode="off"), AlertRules()
    )
    assert errors == {}
    assert (updated.slack_webhook, updated.slack_app_dm, updated.timezone) == (
        None,
        True,
        "Asia/Tokyo",
    )
    assert updated.quiet_hours is None and updated.email_to is None


def test_every_problem_is_reported_at_once() -> None:
    _, _, errors = parse_settings(
        Settings(user="u@x.org"),
        form(
            slack_mode="webhook",
            chat_mode="carrier-pigeon",
            email_to="nope",
            quiet_start="25",
            quiet_end="3",
            strictness="paranoid",
        ),
        AlertRules(),
    )
    assert set(errors) == {"slack_webhook", "chat_mode", "email_to", "quiet_start", "strictness"}


def test_equal_quiet_hours_and_unknown_zone_are_refused() -> None:
    event = AddonEvent(form={"quiet_start": ("5",), "quiet_end": ("5",)}, timezone="Mars/Base")
    _, _, errors = parse_settings(Settings(user="u@x.org"), event, AlertRules())
    assert set(errors) == {"quiet_end", "timezone"}
